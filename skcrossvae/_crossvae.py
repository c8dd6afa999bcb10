"""CrossFeedbackVAERegressor: the paper's model as a scikit-learn regressor."""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import check_layer_sizes, shared_parameter_docs
from ._data import RatingTable, damped_biases, grown, weighted_root_mean_square
from ._torch_estimator import TORCH_PARAMETER_DOCS, TorchEstimator

#: A side (users or items) is sparse when its median number of ratings per row is below this.
#: ``attention='auto'`` attends globally on a sparse side and locally otherwise (Section 3.4);
#: ``decoder='auto'`` adds baseline predictors when a side is sparse.
SPARSE_MEDIAN_RATINGS = 10

#: ``batch_size='auto'``: batches of this many rows, or larger ones where a side would need more
#: than ``AUTO_MAX_BATCHES`` of them.
AUTO_MIN_BATCH_SIZE = 250
AUTO_MAX_BATCHES = 10

#: ``final_iter='auto'``: the final iterations as a share of the validated ones.
AUTO_FINAL_SHARE = 0.2

#: A final iteration whose training loss exceeds this many times the validated run's lowest has
#: blown up (nothing validates the final iterations): they stop there.
BLOWUP_RATIO = 2.0


class _BlownUp(Exception):
    """A final iteration's training loss blew up."""

#: The damping of the baseline predictors of ``decoder='baseline'``: the number of ratings' worth
#: of pull of each bias towards 0.
BASELINE_DAMPING = 5.0

#: With ``decoder='dot'`` the largest rating magnitude must lie in this range: the model trains
#: on the raw ratings in float32, where their squares must stay finite and normal.
RAW_RATING_MAGNITUDES = (1e-9, 1e9)

_INPUTS = {
    # inputs -> (the encoders read the rating rows, how they read the cross-fed embeddings)
    "ratings+embeddings": (True, "concat"),
    "ratings+mean_embeddings": (True, "mean"),
    "ratings": (True, None),
    "embeddings": (False, "concat"),
    "mean_embeddings": (False, "mean"),
}

#: The paper's model (Jin et al.): its decoder (the dot product of the raw ratings' factors),
#: its attention rule, and none of this package's additions. ``attention_norm='ratio'`` is Eq. 9
#: with the absolute scores in the denominator, the form of Eq. 9 that trains; ``'eq9'`` as printed
#: diverges on the data sets measured (the results page shows the runs).
PAPER_PARAMS = dict(decoder="dot", attention="auto", attention_norm="ratio", input_dropout=0.0,
                    weight_averaging=0.0, final_iter=0)


def _pair(value):
    """``(user, item)`` values from a scalar or a pair."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _sparse_sides(train):
    """Whether the users, and the items, are sparse (see ``SPARSE_MEDIAN_RATINGS``)."""
    return tuple(
        bool(np.median(np.bincount(codes, minlength=size)) < SPARSE_MEDIAN_RATINGS)
        for codes, size in ((train.users, train.n_users), (train.items, train.n_items))
    )


@dataclass(frozen=True)
class _Decoder:
    """How the model's scores map to ratings: ``offsets(u, i) + scale * score``."""

    offset: float
    user_offsets: np.ndarray
    item_offsets: np.ndarray
    scale: float

    def offsets(self, users, items):
        return self.offset + self.user_offsets[users] + self.item_offsets[items]

    def standardise(self, table):
        """The targets the decoder's dot product models for an encoded rating table."""
        return (table.values - self.offsets(table.users, table.items)) / self.scale


class CrossFeedbackVAERegressor(TorchEstimator):
    __doc__ = f"""Bayesian matrix factorisation with cross-feedback VAE encoders (Jin et al.).

    A user's embedding has a Gaussian posterior whose mean and variance come from an encoder that
    reads the user's ratings *and* the embeddings of the items the user rated, sampled at the
    previous iteration (cross feedback); items mirror it. Attention can refine the posteriors; the
    decoder is the dot product; training maximises Eq. 7 with Algorithm 1. :meth:`paper` is the
    paper's model; the model page gives the equations and every choice the paper leaves open.

    Parameters
    ----------
    n_components : int, default=15
        Embedding dimension K.
    encoder_layer_sizes : tuple of int, default=(50, 25)
        Widths of the MLPs over the rating input and over the cross-fed input: the hidden layers
        M^(l'), then the intermediate embedding width K' (so L' is its length minus one).
    fusion_layer_sizes : tuple of int, default=()
        Hidden widths M^(l) of the MLP after the concatenation (L = its length).
    beta : float or (float, float), default=0.003
        KL weights beta_u, beta_v of Eq. 7, one for both sides or (users, items).
    batch_size : 'auto', int or (int, int), default='auto'
        Rows per batch B_U, B_V of Algorithm 1 (both sides, or users and items). 'auto': at least
        {AUTO_MIN_BATCH_SIZE} rows, and at most {AUTO_MAX_BATCHES} batches per side.
    inputs : str, default='ratings+embeddings'
        What the encoders read: 'ratings+embeddings' (the paper), 'ratings', 'embeddings', or with
        'mean_embeddings' the average of the cross-fed embeddings (the accelerated variant).
    attention : {{'local', 'global', 'auto'}} or None, default=None
        Attention over the cross-fed embeddings of the rated entries ('local', Eq. 9-10), of the
        whole other side ('global'), or 'auto', the paper's rule: local on a side with a median of
        at least {SPARSE_MEDIAN_RATINGS} ratings per row, else global. None: no attention.
    attention_norm : {{'softmax', 'ratio', 'eq9'}}, default='softmax'
        Normalisation of the attention scores: a softmax, Eq. 9 as printed ('eq9', over their sum,
        which can cross zero) or over the sum of their absolute values ('ratio').
    schedule : {{'nested', 'alternating'}}, default='nested'
        Algorithm 1's step per (user batch, item batch) pair, or the user side's, then the item side's.
    decoder : {{'auto', 'biased', 'baseline', 'dot'}}, default='auto'
        What the dot product models: the raw ratings ('dot', the paper); the standardised ratings
        plus an encoded bias per user and item ('biased'); the same after damped-mean baseline
        predictors ('baseline'); 'auto': 'baseline' when users or items are sparse, else 'biased'.
    input_dropout : float, default=0.5
        Share of the ratings hidden from both encoders at each step (the rest scaled up; 0: the
        paper).
    weight_averaging : float, default=0.99
        Per-step decay of the moving average of the weights that prediction uses (0: the paper).
    final_iter : int or 'auto', default='auto'
        Iterations on every rating, the validation part included, after early stopping restores
        the best iteration (0: the paper); the model averages their posteriors. 'auto': a fifth
        of the validated iterations, where the held-out gain levels off. Ignored without early
        stopping, and when ``fit`` is given ``X_val`` (its ratings are not training data).
    max_iter : int, default=200
        Maximum number of iterations (passes of Algorithm 1's outer loop) before the final ones.
    learning_rate : float, default=1e-3
        Adam's step size.
    {shared_parameter_docs(n_iter_no_change=20)}{TORCH_PARAMETER_DOCS}
    Attributes
    ----------
    user_ids_, item_ids_ : ndarray
        The raw ids seen in ``fit``, sorted (a user's code is its position), then those added by
        :meth:`fold_in`; ``n_users_``, ``n_items_`` their numbers, ``fit_sizes_`` those of
        ``fit``; ``ratings_`` the users x items CSR matrix of the ratings given.
    global_mean_, rating_std_, rating_range_ : float, float, tuple
        Mean, standard deviation and range of the training ratings (predictions are clipped to
        the range); ``user_fallback_``, ``item_fallback_`` the damped mean deviations used for
        pairs with an unknown id.
    user_embeddings_, item_embeddings_ : ndarray of shape (n_users, K), (n_items, K)
        Posterior means of the factors; ``user_variances_``, ``item_variances_`` their variances;
        ``user_biases_``, ``item_biases_`` and their ``*_bias_variances_`` those of the biases.
    decoder_offset_, decoder_scale_, baseline_user_biases_, baseline_item_biases_ : object
        A prediction is ``decoder_offset_ + baseline_user_biases_[u] + baseline_item_biases_[i]
        + decoder_scale_ * (user_embeddings_[u] . item_embeddings_[i] + user_biases_[u] +
        item_biases_[i])``; ``noise_variance_`` is the noise part of the predictive variance.
    decoder_, attention_scopes_, batch_sizes_, final_iter_ : object
        The resolved 'auto' choices (``final_iter_`` is 0 without early stopping).
    n_iter_, best_iteration_, loss_curve_, validation_scores_, best_validation_score_ : object
        Iterations run (the final ones included) and the one early stopping chose; the negative
        ELBO per training rating per iteration; the validation RMSE per iteration and its best.
    module_, feedback_embeddings_, device_, n_features_in_, feature_names_in_ : object
        The trained encoders, the cross-fed embeddings they read last, the device; 2, and the
        column names when X was a DataFrame.

    References
    ----------
    Jin, Y., Zhao, H., Liu, M., Zhu, Y., Du, L., Gao, L., Zhang, H. and Li, Y. Leveraging Cross
    Feedback of User and Item Embeddings with Attention for Variational Autoencoder based
    Collaborative Filtering.

    Examples
    --------
    >>> from skcrossvae import CrossFeedbackVAERegressor
    >>> from skcrossvae.datasets import make_ratings
    >>> X, y, _ = make_ratings(60, 40, n_ratings=900, random_state=0)
    >>> model = CrossFeedbackVAERegressor(max_iter=5, random_state=0).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **TorchEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "encoder_layer_sizes": ["array-like"],
        "fusion_layer_sizes": ["array-like"],
        "beta": [Interval(Real, 0, None, closed="left"), tuple, list],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), tuple, list],
        "inputs": [StrOptions(set(_INPUTS))],
        "attention": [StrOptions({"local", "global", "auto"}), None],
        "attention_norm": [StrOptions({"softmax", "ratio", "eq9"})],
        "schedule": [StrOptions({"nested", "alternating"})],
        "decoder": [StrOptions({"auto", "biased", "baseline", "dot"})],
        "input_dropout": [Interval(Real, 0, 1, closed="left")],
        "weight_averaging": [Interval(Real, 0, 1, closed="left")],
        "final_iter": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        *,
        n_components=15,
        encoder_layer_sizes=(50, 25),
        fusion_layer_sizes=(),
        beta=0.003,
        batch_size="auto",
        inputs="ratings+embeddings",
        attention=None,
        attention_norm="softmax",
        schedule="nested",
        decoder="auto",
        input_dropout=0.5,
        weight_averaging=0.99,
        final_iter="auto",
        max_iter=200,
        learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        tol=1e-4,
        handle_unknown="mean",
        random_state=None,
        device="auto",
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.encoder_layer_sizes = encoder_layer_sizes
        self.fusion_layer_sizes = fusion_layer_sizes
        self.beta = beta
        self.batch_size = batch_size
        self.inputs = inputs
        self.attention = attention
        self.attention_norm = attention_norm
        self.schedule = schedule
        self.decoder = decoder
        self.input_dropout = input_dropout
        self.weight_averaging = weight_averaging
        self.final_iter = final_iter
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.warm_start = warm_start

    @classmethod
    def paper(cls, **params):
        """The paper's model: :data:`PAPER_PARAMS` with ``params`` on top.

        The paper's decoder (the dot product models the raw ratings), its attention rule
        (``attention='auto'``) with Eq. 9's normalisation in the form that trains, and none of
        this package's additions (no input dropout, no weight averaging, no final iterations on
        the validation ratings). The sizes are the package's defaults; the paper searches them
        with :func:`~skcrossvae.model_selection.paper_param_grid`.

        Parameters
        ----------
        **params
            Any other parameters (``random_state``, sizes, ``max_iter``...), set after the preset.

        Returns
        -------
        CrossFeedbackVAERegressor
        """
        return cls(**{**PAPER_PARAMS, **params})

    # ----------------------------------------------------------------- fitting
    @property
    def _divergence_advice(self):
        advice = "Lower learning_rate"
        if self.attention is not None and self.attention_norm in ("ratio", "eq9"):
            advice += ", or use attention_norm='softmax' (Eq. 9's ratio of scores can blow up)"
        return advice

    def _untrained_rmse(self, train):
        if self.decoder_ != "dot":
            return super()._untrained_rmse(train)
        return weighted_root_mean_square(train.values, train.weights)  # the paper's decoder starts near 0

    def _model_config(self):
        from ._torch._crossvae import ModelConfig

        use_ratings, cross_feedback = _INPUTS[self.inputs]
        if self.attention is not None and cross_feedback is None:
            raise ValueError(f"attention={self.attention!r} attends to the cross-fed embeddings, which "
                             f"inputs={self.inputs!r} leaves out; set attention=None.")
        return ModelConfig(
            n_components=self.n_components,
            encoder_layer_sizes=check_layer_sizes(self.encoder_layer_sizes, "encoder_layer_sizes",
                                                  allow_empty=False),
            fusion_layer_sizes=check_layer_sizes(self.fusion_layer_sizes, "fusion_layer_sizes"),
            use_ratings=use_ratings,
            cross_feedback=cross_feedback,
            attention_norm=None if self.attention is None else self.attention_norm,
            biases=self._resolved_decoder() != "dot",
        )

    def _network_changes(self):
        # The networks carry the configuration and attention scopes they were built with.
        fitted = {**vars(self.module_.config), "attention_scopes": self.module_.attention_scopes}
        wanted = {**vars(self._model_config()), "attention_scopes": self._attention_scopes()}
        return [f"{name} from {fitted[name]!r} to {wanted[name]!r}" for name in fitted
                if fitted[name] != wanted[name]]

    def _attention_scopes(self, sparse_sides=None):
        """The (user, item) attention scopes the parameters ask for ('auto' resolved on the
        sparsity of the training ratings, or as fitted when they are not given)."""
        if self.attention != "auto":
            return (self.attention, self.attention)
        if sparse_sides is None:
            return self.attention_scopes_
        return tuple("global" if sparse else "local" for sparse in sparse_sides)

    def _resolved_decoder(self, sparse_sides=None):
        """The decoder the parameters ask for ('auto' resolved as for the scopes)."""
        if self.decoder != "auto":
            return self.decoder
        if sparse_sides is None:
            return self.decoder_
        return "baseline" if any(sparse_sides) else "biased"

    def _check_pairs(self):
        for name in ("beta", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, (tuple, list)):
                valid = len(value) == 2 and all(
                    isinstance(v, Real) and not isinstance(v, bool) and v >= 0
                    and (name == "beta" or (isinstance(v, Integral) and v >= 1)) for v in value)
                if not valid:
                    raise ValueError(f"{name} must be one value or a (users, items) pair of valid "
                                     f"values; got {value!r}.")

    def _resolve_choices(self, train, incremental):
        """Resolve the 'auto' parameters on the training ratings (a warm start keeps the first
        fit's architecture choices, which its networks were trained for)."""
        self._check_pairs()
        known = None if incremental else _sparse_sides(train)
        self.attention_scopes_ = self._attention_scopes(known)
        self.decoder_ = self._resolved_decoder(known)
        sizes = []
        for size, n_rows in zip(_pair(self.batch_size), (train.n_users, train.n_items)):
            sizes.append(max(AUTO_MIN_BATCH_SIZE, -(-n_rows // AUTO_MAX_BATCHES)) if size == "auto" else int(size))
        self.batch_sizes_ = tuple(sizes)

    def _make_module(self, generator, device):
        from ._torch._crossvae import CrossFeedbackVAE

        # The encoders read the users and items of fit; ids that fold_in adds come after them.
        return CrossFeedbackVAE(*self.fit_sizes_, self.attention_scopes_, self._model_config(), generator, device)

    def _fit_ratings(self, train, valid, rng, incremental, max_iter=None):
        self._resolve_choices(train, incremental)
        self.final_iter_ = 0
        super()._fit_ratings(train, valid, rng, incremental, max_iter)
        trained_on = train if not self.final_iter_ else train.concatenate(valid)
        self.noise_variance_ = self._rmse(trained_on) ** 2

    def _make_trainer(self, module, train, rng, generator, device, incremental):
        import torch

        from ._torch._crossvae_fit import CrossFeedbackTrainer, TrainerSettings
        from ._torch._device import as_tensor

        beta_user, beta_item = (float(b) for b in _pair(self.beta))
        settings = TrainerSettings(
            schedule=self.schedule, beta_user=beta_user, beta_item=beta_item,
            user_batch_size=self.batch_sizes_[0], item_batch_size=self.batch_sizes_[1],
            learning_rate=self.learning_rate, input_dropout=float(self.input_dropout),
            weight_averaging=self.weight_averaging)
        feedback = None
        if incremental:
            # Ids added since (partial_fit) start from the prior, as every id does in fit.
            feedback = tuple(
                torch.cat([as_tensor(e, device).float(),
                           torch.randn((n - len(e), e.shape[1]), generator=generator, device=device)])
                for e, n in zip(self.feedback_embeddings_, (train.n_users, train.n_items)))
        input_scale = max(abs(self.rating_range_[0]), abs(self.rating_range_[1])) or 1.0
        return CrossFeedbackTrainer(module, train, settings, input_scale, self._fit_decoder(train),
                                    rng, generator, device, feedback)

    def _continued_module(self, generator, device):
        module = super()._continued_module(generator, device)
        module.grow(self.n_users_, self.n_items_, generator)
        return module

    def _train(self, trainer, train, valid, max_iter):
        history = super()._train(trainer, train, valid, max_iter)
        if valid is None or self._validation_given:  # ratings given as X_val are not training data
            return history
        self.final_iter_ = (round(history.best_iteration * AUTO_FINAL_SHARE) if self.final_iter == "auto"
                            else self.final_iter)
        if self.final_iter_:
            # Continue from the state early stopping chose, on every rating: the validation part
            # has done its work and is more data to learn from. The model keeps the average of
            # the final iterations' posteriors.
            trainer.read_ratings(train.concatenate(valid))
            validated = trainer.get_state()
            trainer.average_posteriors()
            reference, losses = min(history.loss_curve), []
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed count, by design
                    self._run_iterations(trainer, train, None, self.final_iter_,
                                         iterate=lambda: self._final_iteration(trainer, reference, losses))
            except _BlownUp as blown:
                # Nothing validates these iterations: back to the validated networks, with the
                # posteriors of the iterations before the jump.
                trainer.set_state(validated)
                self.final_iter_ = len(losses)
                warnings.warn(f"{type(self).__name__}: {blown}", UserWarning)
            history.loss_curve.extend(losses)
        return history

    def _final_iteration(self, trainer, reference, losses):
        """One final iteration; its posteriors join the average unless its loss blows up."""
        loss = trainer.train_one_iteration()
        if not np.isfinite(loss) or loss > BLOWUP_RATIO * reference:
            raise _BlownUp(
                f"the training loss jumped from {reference:.4g} to {loss:.4g} at final iteration "
                f"{len(losses) + 1} of {self.final_iter_}; the final iterations stop there, and the "
                f"model keeps the networks early stopping chose and the posteriors averaged over the "
                f"{len(losses)} final iterations before. A lower learning_rate avoids it."
            )
        losses.append(loss)
        trainer.add_posteriors()
        return loss

    def _fit_decoder(self, train):
        """The decoder's offsets and scale, from the ratings a run trains on."""
        zeros = np.zeros(self.n_users_), np.zeros(self.n_items_)
        if self.decoder_ == "dot":
            peak = float(np.max(np.abs(train.values)))
            if peak and not RAW_RATING_MAGNITUDES[0] <= peak <= RAW_RATING_MAGNITUDES[1]:
                raise ValueError(
                    f"decoder='dot' models the raw ratings in float32, but the largest rating "
                    f"magnitude is {peak:.3g}, outside [{RAW_RATING_MAGNITUDES[0]:g}, "
                    f"{RAW_RATING_MAGNITUDES[1]:g}]; rescale y or use another decoder."
                )
            return _Decoder(0.0, *zeros, 1.0)
        if self.decoder_ == "biased":
            return _Decoder(self.global_mean_, *zeros, self.rating_std_)
        offset, user_offsets, item_offsets = damped_biases(train, BASELINE_DAMPING)
        decoder = _Decoder(offset, user_offsets, item_offsets, 1.0)
        residual = decoder.standardise(train)
        residual_std = weighted_root_mean_square(residual - np.average(residual, weights=train.weights),
                                                 train.weights) or 1.0
        return _Decoder(offset, user_offsets, item_offsets, residual_std)

    def _store_prediction_state(self, trainer, table):
        """Store the posteriors of every user and item from the trainer's current state."""
        decoder = trainer.decoder
        self.feedback_embeddings_ = tuple(e.cpu().numpy() for e in (trainer.feedback_users, trainer.feedback_items))
        self.decoder_offset_, self.decoder_scale_ = float(decoder.offset), float(decoder.scale)
        self.baseline_user_biases_, self.baseline_item_biases_ = decoder.user_offsets, decoder.item_offsets
        user_means, user_vars, item_means, item_vars = (
            tensor.cpu().double().numpy() for tensor in trainer.encode_all())
        self._set_posteriors("user", user_means, user_vars)
        self._set_posteriors("item", item_means, item_vars)

    _POSTERIOR_ATTRIBUTES = ("embeddings_", "variances_", "biases_", "bias_variances_")

    def _set_posteriors(self, side, means, variances, rows=None):
        """Store one side's posteriors (latent vectors with the bias last, when there is one):
        of every row, or of the codes ``rows`` in arrays grown to the side's vocabulary."""
        k = self.n_components
        has_bias = means.shape[1] > k
        values = (means[:, :k], variances[:, :k], means[:, k] if has_bias else np.zeros(len(means)),
                  variances[:, k] if has_bias else np.zeros(len(means)))
        for suffix, value in zip(self._POSTERIOR_ATTRIBUTES, values):
            name = f"{side}_{suffix}"
            if rows is not None:
                value = grown(getattr(self, name), self.n_users_ if side == "user" else self.n_items_, rows, value)
            setattr(self, name, value)

    # ------------------------------------------------------- incremental training
    def partial_fit(self, X, y):
        """Train one more iteration on the ratings seen so far and those of ``X``.

        The first call on an unfitted estimator is a fit of one iteration without early
        stopping. Later calls add the ratings of ``X`` as :meth:`fold_in` does (new ids appended
        to the vocabularies, a pair rated again taking the new rating), give the encoders inputs
        for the new ids (drawn as ``fit`` draws them) and the new ids cross-fed embeddings drawn
        from the prior, then run one iteration of Algorithm 1 over every stored rating (an
        encoder reads a user's whole row), continuing from the fitted networks; the 'auto'
        choices of the first fit are kept and Adam's moments restart. ``n_iter_`` and
        ``loss_curve_`` count on. Atomic like ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_ratings, 2)
            User ids in the first column, item ids in the second; each pair at most once.
        y : array-like of shape (n_ratings,)
            The ratings; after the first call, within ``rating_range_``.

        Returns
        -------
        self : object
            The estimator, trained one iteration further.
        """
        with self._atomic(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # one iteration, by design
            if not hasattr(self, "user_ids_"):
                self._validate_params()
                table = self._validate_training_data(X, y, incremental=False)
                self._set_rating_statistics(table, table)
                self._fit_ratings(table, None, check_random_state(self.random_state), False, max_iter=1)
            else:
                history = (self.n_iter_, list(self.loss_curve_))
                table, _, _ = self._add_ratings(X, y, "partial_fit")
                self._fit_ratings(table, None, check_random_state(self.random_state), True, max_iter=1)
                self.fit_sizes_ = (self.n_users_, self.n_items_)
                self.n_iter_, self.loss_curve_ = history[0] + self.n_iter_, history[1] + self.loss_curve_
            self._check_training_fit(table)
        return self

    # ----------------------------------------------------------------- fold-in
    def fold_in(self, X, y, *, method="encoder"):
        """Add users and items, or more ratings of known ones, from their ratings, without training.

        The new users and items of ``X`` get posteriors from their ratings, and so do the known
        ones that ``X`` gives ratings of ids seen in ``fit``: from the ratings given to ``fit``
        (and earlier calls) together with those in ``X``; a pair rated again takes the rating
        in ``X``. Each row reads its ratings of the other side's ids of ``fit``: a rating between
        two ids added by ``fold_in`` only counts in the fallbacks. Nothing else changes: the
        networks, the other rows (a known item that only new users rated keeps its posterior),
        and the baseline biases of the ids of ``fit`` (new ids get damped means). New ids are
        appended to ``user_ids_`` and ``item_ids_`` and served like the others; the result does
        not depend on how users are grouped into calls. Atomic like ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_ratings, 2)
            User ids in the first column, item ids in the second; each pair at most once.
        y : array-like of shape (n_ratings,)
            The ratings, within ``rating_range_`` (the range seen in ``fit``).
        method : {'encoder', 'elbo'}, default='encoder'
            'encoder': one pass of the trained encoders over the row's ratings and the
            cross-fed embeddings of the other side (the amortised posterior; a row of ``fit``
            folded in with the ratings the final encoders read gets its fitted posterior back).
            'elbo': the Gaussian posterior that maximises the training objective (Eq. 7) given
            the other side's fitted posteriors, in closed form (the posterior without the
            amortisation gap of the encoders; see the results page for how they compare).

        Returns
        -------
        self : object
            The estimator, with the users and items of ``X`` folded in.
        """
        if method not in ("encoder", "elbo"):
            raise ValueError(f"method must be 'encoder' or 'elbo'; got {method!r}.")
        return self._fold_in(X, y, method=method)

    def _fold_in_rows(self, ratings, users, items, method="encoder"):
        self._fold_in_baseline_biases(ratings, users, items)
        fold = self._encoded_posteriors if method == "encoder" else self._elbo_posteriors
        for side, codes, rows, others, values in self._fold_in_reads(ratings, users, items):
            means, variances = fold(side, codes, rows, others, values)
            self._set_posteriors(side, means, variances, rows=codes)

    def _fold_in_baseline_biases(self, ratings, users, items):
        """Grow the baseline biases to the vocabularies; new ids get the damped mean of their
        residuals against the other side's biases of ``fit`` (``decoder_='baseline'``)."""
        offsets = {"user": grown(self.baseline_user_biases_, self.n_users_),
                   "item": grown(self.baseline_item_biases_, self.n_items_)}
        if self.decoder_ == "baseline":
            for side, codes, rows, others, values in self._fold_in_reads(ratings, users, items):
                residual = values - self.decoder_offset_ - offsets["item" if side == "user" else "user"][others]
                damped = np.bincount(rows, residual, len(codes)) / (np.bincount(rows, minlength=len(codes))
                                                                    + BASELINE_DAMPING)
                new = codes >= self.fit_sizes_[side == "item"]
                offsets[side][codes[new]] = damped[new]
        self.baseline_user_biases_, self.baseline_item_biases_ = offsets["user"], offsets["item"]

    def _encoded_posteriors(self, side, codes, rows, others, values):
        """The rows' posteriors (latent vectors, bias last) from one pass of the side's encoder."""
        from ._torch._crossvae_fit import fold_in
        from ._torch._device import as_tensor

        input_scale = max(abs(self.rating_range_[0]), abs(self.rating_range_[1])) or 1.0
        device = self._module_device
        cross_fed = as_tensor(self.feedback_embeddings_[side == "user"], device).float()
        return fold_in(getattr(self.module_, f"{side}_encoder"), rows, others, values / input_scale,
                       len(codes), cross_fed, self.batch_sizes_[side == "item"])

    def _elbo_posteriors(self, side, codes, rows, others, values):
        """The rows' Gaussian posteriors that minimise ``0.5 E[squared errors] + beta KL`` (the
        training objective of one row) given the other side's posteriors: with ``z`` the other
        row's latent vector (and 1 for the bias), ``mean = (sum E[z z^T] + beta I)^-1 sum E[z] r``
        and ``var_k = beta / (beta + sum E[z_k^2])``, ``r`` the standardised rating minus the
        other row's bias."""
        other = "item" if side == "user" else "user"
        beta = float(_pair(self.beta)[side == "item"])
        users, items = (codes[rows], others) if side == "user" else (others, codes[rows])
        targets = self._decoder.standardise(RatingTable(users, items, values, self.n_users_, self.n_items_))
        used, columns = np.unique(others, return_inverse=True)
        means = getattr(self, f"{other}_embeddings_")[used]
        variances = getattr(self, f"{other}_variances_")[used]
        residual = targets - getattr(self, f"{other}_biases_")[others]
        if self.decoder_ != "dot":  # the latent vectors carry the bias: its design entry is 1
            means = np.hstack([means, np.ones((len(used), 1))])
            variances = np.hstack([variances, np.zeros((len(used), 1))])
        d = means.shape[1]
        second = means[:, :, None] * means[:, None, :] + variances[:, :, None] * np.eye(d)
        indicator = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(codes), len(used)))
        grams = (indicator @ second.reshape(len(used), d * d)).reshape(len(codes), d, d)
        sums = sp.csr_matrix((residual, (rows, columns)), shape=indicator.shape) @ means
        posterior_means = np.linalg.solve(grams + beta * np.eye(d), sums[:, :, None])[:, :, 0]
        posterior_variances = beta / (beta + np.diagonal(grams, axis1=1, axis2=2))
        return posterior_means, posterior_variances

    # -------------------------------------------------------------- prediction
    @property
    def _decoder(self):
        return _Decoder(self.decoder_offset_, self.baseline_user_biases_, self.baseline_item_biases_,
                        self.decoder_scale_)

    def _predict_codes(self, users, items, return_std=False):
        mean_u, mean_v = self.user_embeddings_[users], self.item_embeddings_[items]
        standardised = np.einsum("ij,ij->i", mean_u, mean_v) + self.user_biases_[users] + self.item_biases_[items]
        decoder = self._decoder
        predictions = np.clip(decoder.offsets(users, items) + decoder.scale * standardised,
                              *self.rating_range_)
        if not return_std:
            return predictions
        var_u, var_v = self.user_variances_[users], self.item_variances_[items]
        variance = (
            np.einsum("ij,ij->i", mean_u**2, var_v) + np.einsum("ij,ij->i", mean_v**2, var_u)
            + np.einsum("ij,ij->i", var_u, var_v)
            + self.user_bias_variances_[users] + self.item_bias_variances_[items]
        )
        return predictions, np.sqrt(self.decoder_scale_**2 * variance + self.noise_variance_)

    def _score_items(self, users, items):
        standardised = self.user_embeddings_[users] @ self.item_embeddings_[items].T
        standardised += self.user_biases_[users, None] + self.item_biases_[None, items]
        decoder = self._decoder
        return decoder.offsets(users[:, None], items[None, :]) + decoder.scale * standardised

    def _factors(self, side):
        return getattr(self, f"{side}_embeddings_")

    def predict(self, X, return_std=False):
        """Predict ratings, optionally with the predictive standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2)
            User ids in the first column, item ids in the second.
        return_std : bool, default=False
            Also return the standard deviation of the predictive distribution: the variance of
            the dot product under the variational posteriors plus ``noise_variance_``. Pairs with
            an unknown id get the training ratings' standard deviation.

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,)
            Predicted ratings.
        y_std : ndarray of shape (n_pairs,)
            Only with ``return_std=True``.
        """
        return self._predict(X, return_std=return_std)
