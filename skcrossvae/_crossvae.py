"""CrossFeedbackVAERegressor: the paper's model as a scikit-learn regressor."""

import copy
import warnings
from dataclasses import dataclass, fields, replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseRatingEstimator, shared_parameter_docs
from ._data import damped_biases, root_mean_square
from ._torch._crossvae import CrossFeedbackVAE
from ._torch._crossvae_fit import CrossFeedbackTrainer
from ._torch._device import as_tensor, make_generator, resolve_device
from ._training import run_iterations

#: A side (users or items) is sparse when its median number of ratings per row is below this.
#: ``attention='auto'`` attends globally on a sparse side and locally (to the rows' own rated
#: entries) otherwise (Section 3.4); ``baseline='auto'`` uses baseline predictors when a side is
#: sparse; ``input_dropout='auto'`` hides ratings only when neither side is.
SPARSE_MEDIAN_RATINGS = 10

#: With ``standardize=False`` the largest rating magnitude must lie in this range: the model
#: trains on the raw ratings in float32, where their squares must stay finite and normal.
RAW_RATING_MAGNITUDES = (1e-9, 1e9)

#: ``input_dropout='auto'``: the share of ratings hidden from the encoders on dense data.
AUTO_INPUT_DROPOUT = 0.5

#: ``batch_size='auto'``: batches of this many rows, or larger ones where a side would need more
#: than ``AUTO_MAX_BATCHES`` of them.
AUTO_MIN_BATCH_SIZE = 250
AUTO_MAX_BATCHES = 10


def _sparse_sides(train):
    """Whether the users, and the items, are sparse (see ``SPARSE_MEDIAN_RATINGS``)."""
    return tuple(
        bool(np.median(np.bincount(codes, minlength=size)) < SPARSE_MEDIAN_RATINGS)
        for codes, size in ((train.users, train.n_users), (train.items, train.n_items))
    )


@dataclass(frozen=True)
class _ModelConfig:
    n_components: int
    intermediate_dim: int
    hidden_layer_sizes: tuple
    fusion_layer_sizes: tuple
    use_ratings: bool
    cross_feedback: bool
    latent_input: str
    attention: str | None
    attention_norm: str
    biases: bool
    free_means: bool
    learn_prior_variance: bool

    @property
    def latent_dim(self):
        """Length of each latent vector: the K factors, then the bias when there is one."""
        return self.n_components + int(self.biases)


@dataclass(frozen=True)
class _Decoder:
    """How the model's standardised scores map to ratings: ``offsets(u, i) + scale * score``."""

    offset: float
    user_offsets: np.ndarray
    item_offsets: np.ndarray
    scale: float

    def offsets(self, users, items):
        return self.offset + self.user_offsets[users] + self.item_offsets[items]

    def standardise(self, table):
        """The targets the decoder's dot product models for an encoded rating table."""
        return (table.values - self.offsets(table.users, table.items)) / self.scale


@dataclass(frozen=True)
class _TrainerSettings:
    """The training settings :class:`CrossFeedbackTrainer` reads."""

    schedule: str
    feedback: str
    beta_user: float
    beta_item: float
    user_batch_size: int
    item_batch_size: int
    learning_rate: float
    free_means_learning_rate: float
    input_dropout: float
    weight_averaging: float


def _check_layer_sizes(value, name):
    sizes = tuple(value)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must be a sequence of positive integers; got {value!r}.")
    return tuple(int(s) for s in sizes)


def _side_by_side(runs):
    """The runs' factors (and variances) concatenated, their biases (and variances) summed."""
    factors, variances, biases, bias_variances = zip(*runs)
    return (np.concatenate(factors, axis=1), np.concatenate(variances, axis=1),
            np.sum(biases, axis=0), np.sum(bias_variances, axis=0))


class CrossFeedbackVAERegressor(BaseRatingEstimator):
    __doc__ = f"""Bayesian matrix factorisation with cross-feedback VAE encoders (Jin et al.).

    Each user's embedding has a Gaussian posterior whose mean and variance come from an encoder
    that reads the user's ratings *and* the embeddings of the items the user rated, sampled at
    the previous iteration (cross feedback); the item side mirrors it. Attention over the
    cross-fed embeddings refines the posterior parameters. The decoder is the dot product of the
    sampled embeddings; training maximises the ELBO of Eq. 7 with Algorithm 1.

    Parameters
    ----------
    n_components : int, default=15
        Embedding dimension K.

    intermediate_dim : int, default=25
        Dimension K' of the intermediate embeddings produced from the observed and the latent
        inputs (the width of their last layer).

    hidden_layer_sizes : tuple of int, default=(50,)
        Widths M^(l') of the hidden layers of the MLPs over the observed input and over the latent
        input (L' = its length; both MLPs share the architecture, as in the paper).

    fusion_layer_sizes : tuple of int, default=()
        Widths M^(l) of the hidden layers of the MLP after the concatenation (L = its length).

    beta_user, beta_item : float, default=0.01
        Weights beta_u, beta_v of the users' and items' KL terms in Eq. 7.

    attention : {{'local', 'global', 'auto'}} or None, default=None
        Attention over the cross-fed embeddings. 'local': over the entries a row rated (Eq. 9-10);
        'global': over all rows of the other side; 'auto': local on a side whose median number
        of ratings per row is at least {SPARSE_MEDIAN_RATINGS}, global otherwise (the paper
        found local attention helps when ratings are abundant and harms when sparse); None: no
        attention. Attention needs ``cross_feedback=True``. The default is None because on
        MovieLens-100K the model without attention validated better (RMSE 0.902 against 0.908
        for 'auto', mean of three seeds) and converged in half the iterations; 'auto' is the
        paper's full model.

    attention_norm : {{'softmax', 'ratio'}}, default='softmax'
        Normalisation of the attention scores. 'ratio' is Eq. 9 made numerically safe (scores over
        the sum of their absolute values); Eq. 9 as written divides by a sum of signed scores
        that crosses zero and diverges. 'softmax' trains stably.

    cross_feedback : bool, default=True
        Feed the other side's embeddings into the encoders. False removes the latent inputs.

    use_ratings : bool, default=True
        Feed the rating rows into the encoders. False removes the observed inputs (the paper's
        "no data input" ablation).

    latent_input : {{'concat', 'mean'}}, default='concat'
        'concat': the masked concatenation Z_U of the paper, computed sparsely; 'mean': the
        average of the rated entries' embeddings (the paper's accelerated variant).

    biases : bool, default=True
        Add a user bias and an item bias to the decoder's dot product. Each is one more latent
        coordinate with the prior N(0, 1), encoded, cross-fed and attended to with the factors.
        False is the paper's decoder.

    free_means : bool, default=False
        Add a free vector per user and per item, trained directly, to the posterior mean the
        encoder gives the row (semi-amortised inference): the encoder maps a row's ratings to a
        mean, the free vector corrects it for that row alone, which an encoder shared by every
        row cannot do for rows with few ratings. The vectors start at zero, so training starts
        from the encoders' means. False is the paper's fully amortised posterior. With
        ``learn_prior_variance=True`` and ``beta_user=beta_item=1`` it lowered FilmTrust's test
        RMSE from 0.8015 to 0.7862 (means of three seeds), but raised MovieLens-100K ``u1``'s
        from 0.897 to 0.926 and CiaoDVD's validation RMSE from 0.921 to 0.930 (one or two
        seeds; the results page), so it is off by default.

    free_means_learning_rate : float, default=0.03
        Adam's step size for the free means (the networks keep ``learning_rate``): each row's
        vector gets a gradient only from its own ratings, far fewer than a shared weight gets.

    learn_prior_variance : bool, default=False
        Learn the prior's variance, one per latent coordinate and side, by maximising the ELBO
        (empirical Bayes): the KL terms of Eq. 7 are taken against ``N(0, diag(s^2))`` instead of
        ``N(0, I)``. False is the paper's standard normal prior. Alone it changed nothing on
        FilmTrust; see ``free_means`` for the combination that helped there.

    feedback : {{'sample', 'mean'}}, default='sample'
        What is fed back to the other side at the next iteration: the sampled embeddings (the
        paper) or the posterior means (a steadier refresh).

    standardize : bool, default=True
        Model ``(rating - offset) / std`` with the dot product, ``offset`` being the mean training
        rating (or the baseline predictor, when one is used) and ``std`` the standard deviation
        of what it leaves, so that the prior N(0, I) and the KL weights mean the same on every
        rating scale. False models the raw ratings (minus the baseline, when one is used);
        ``standardize=False, baseline=False`` is the paper's decoder.

    baseline : bool or 'auto', default='auto'
        Let the decoder's dot product model what baseline predictors ``mean + b_u + b_i`` leave
        unexplained. The baseline biases are fitted in closed form before training, each the
        damped mean of its residuals ``sum / (count + baseline_damping)`` (alternating
        ridge regressions), and added back to every prediction; the encoders still read the raw
        rating rows. An encoder sums a row's entries, which estimates a user's or an item's
        offset poorly from a handful of ratings; a damped mean shrinks it towards zero by as much
        as the row is short. False: the model's own (encoded) ``biases`` carry all of it, as in
        the paper. 'auto' uses the baseline when users or items are sparse (median number of
        ratings per row below {SPARSE_MEDIAN_RATINGS}): on FilmTrust and CiaoDVD it lowered the
        test RMSE by 0.02 and 0.015, on MovieLens-100K (median 22 ratings per item) it raised it
        by 0.0015 to 0.0066 on all five splits (means of three seeds). The choice made is
        ``uses_baseline_``.

    baseline_damping : float, default=5.0
        The damping ``lambda`` of the baseline biases: the number of ratings' worth of pull
        towards a zero bias.

    input_dropout : float or 'auto', default='auto'
        Share of the observed ratings hidden from both encoders at each training step: a hidden
        rating leaves the user's and the item's rating input and cross-fed input (the rest are
        scaled by ``1 / (1 - input_dropout)``). The encoders otherwise read the very ratings
        they are trained to reconstruct; hiding some trains them to predict ratings they cannot
        see, as at prediction time. 0 is the paper's model. 'auto' hides {AUTO_INPUT_DROPOUT}
        when neither users nor items are sparse (median number of ratings per row at least
        {SPARSE_MEDIAN_RATINGS}) and none otherwise: on MovieLens-100K 0.5 lowered the test
        RMSE by 0.003 to 0.008 on each of the five splits (means of three seeds; u1 0.8973
        against 0.9010), on FilmTrust it changed nothing (0.7988 against 0.7990, seed 0) and
        CiaoDVD was not measured, so sparse data keep the measured model. Hidden ratings slow
        convergence: about 95 iterations instead of 65 on MovieLens-100K, and the synthetic
        demo set reaches ``max_iter`` (its test RMSE rises from 0.632 to 0.650). The choice
        made is ``input_dropout_``.

    weight_averaging : float, default=0.99
        Decay, per gradient step, of an exponential moving average of the encoders' weights;
        validation and prediction use the averaged weights. It smooths out the noise of the
        sampled embeddings and of the minibatch steps (0.99 averages over about the last 100
        steps, a few iterations). 0 keeps the last weights (the paper).

    refinement_passes : int, default=0
        Encoding passes for prediction (and validation) that feed the posterior means back as
        the cross-fed input, after the first pass over the last sampled embeddings. 0 is the paper.

    read_validation_ratings : bool, default=False
        With early stopping, compute the final posteriors from every rating given to ``fit``:
        after training, the encoders also read the held-out validation ratings, which until
        then only chose the iteration to keep. The encoders take rating rows as input, so the
        extra ratings inform every posterior without retraining. False keeps the posteriors
        that were validated. Ignored unless ``refit=False``: the refit trains on them.

    refit : bool or 'average', default='average'
        With early stopping, train once more from the same starting point on every rating
        given to ``fit``, the validation part included, for ``best_iteration_`` iterations
        (the number the validation RMSE chose). True keeps that refit model; 'average' keeps
        both runs and predicts the average of the validated and the refit model's predictions
        (stored as one model: see ``user_embeddings_``). Either doubles the fit time and uses
        the 10 % of ratings otherwise only used to stop; the average costs nothing more.
        ``validation_scores_``, ``best_validation_score_``, ``best_iteration_``, ``n_iter_``
        and ``loss_curve_`` describe the first, validated run. On MovieLens-100K ``u1`` (three
        seeds, ``learning_rate=1e-3``) the test RMSE was 0.9059 for the validated model alone,
        0.9047 for the refit model and 0.9012 for their average, lower on every seed. False is
        the paper.

    user_batch_size, item_batch_size : int or 'auto', default='auto'
        Batch sizes B_U and B_V of Algorithm 1. 'auto' takes 250 rows, or ``ceil(n_rows / 10)``
        where a side has more than 2,500 rows: the nested schedule takes one Adam step per
        (user batch, item batch) block, so with fixed sizes an iteration's step count grows
        with the product of the two sides' sizes (4,615 steps on CiaoDVD's 17,615 users and
        16,121 items at 250 rows); 'auto' keeps it at most 100. The sizes used are in
        ``batch_sizes_``.

    schedule : {{'nested', 'alternating'}}, default='nested'
        'nested': Algorithm 1, one gradient step per (user batch, item batch) block updating both
        sides. 'alternating': a pass over user batches updating the user side against fixed item
        embeddings, then over item batches; cheaper, which the paper found less accurate.

    max_iter : int, default=200
        Maximum number of iterations (passes of Algorithm 1's outer loop).

    learning_rate : float, default=1e-3
        Adam's step size. 1e-3 validated better than 3e-3 on every MovieLens-100K split; its
        slower start needs the patience ``n_iter_no_change=30`` on the synthetic demo set.
    {shared_parameter_docs(n_iter_no_change=30)}
    device : str, default='auto'
        'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'. Asking for CUDA where
        there is none raises an error.

    warm_start : bool, default=False
        When True and already fitted, ``fit`` continues from the current networks and cross-fed
        embeddings (the ids in X must all be known, the parameters that shape the networks
        unchanged; Adam's moments restart).

    Attributes
    ----------
    user_ids_, item_ids_ : ndarray
        The raw ids seen in ``fit``, sorted; a user's code is its position.
    n_users_, n_items_ : int
        Numbers of users and items.
    global_mean_ : float
        Mean training rating.
    rating_std_ : float
        Standard deviation of the training ratings.
    rating_range_ : tuple of float
        Smallest and largest rating seen; predictions are clipped to it.
    user_fallback_, item_fallback_ : ndarray
        Damped mean deviations from the global mean, used for pairs with an unknown id.
    seen_items_ : scipy.sparse.csr_matrix
        Users × items indicator of the pairs given to ``fit`` (excluded by ``recommend``).
    user_embeddings_, item_embeddings_ : ndarray of shape (n_users, K) and (n_items, K)
        Posterior means of the final cross-fed encoders; predictions use them. ``K`` is
        ``n_components``, or twice that with ``refit='average'`` when the refit is kept: the
        validated and the refit run's embeddings side by side, each scaled by
        ``sqrt(scale / (2 * decoder_scale_))`` (``scale`` its own decoder's), so that their dot
        product, and the summed biases, give the average of the two runs' predictions.
    user_variances_, item_variances_ : ndarray
        Posterior variances (of the standardised model).
    user_biases_, item_biases_ : ndarray of shape (n_users,) and (n_items,)
        Posterior means of the biases (zeros with ``biases=False``).
    user_bias_variances_, item_bias_variances_ : ndarray
        Their posterior variances (zeros with ``biases=False``).
    uses_baseline_ : bool
        Whether the decoder uses baseline predictors, after resolving ``baseline='auto'``.
    input_dropout_ : float
        The share of ratings hidden from the encoders in training, after resolving
        ``input_dropout='auto'`` on the ratings of the last fit (a warm start too).
    baseline_user_biases_, baseline_item_biases_ : ndarray of shape (n_users,) and (n_items,)
        The baseline biases (zeros without a baseline), fitted on the ratings the kept model
        trained on (the average of both runs' with ``refit='average'``).
    decoder_offset_, decoder_scale_ : float
        Predictions are ``decoder_offset_ + baseline_user_biases_[u] + baseline_item_biases_[i]
        + decoder_scale_ * score``, ``score`` being the model's dot product plus its biases.
    noise_variance_ : float
        Mean squared training residual, the rating noise part of the predictive variance.
    module_ : torch.nn.Module
        The trained encoders.
    feedback_embeddings_ : tuple of ndarray
        The cross-fed user and item embeddings the final encoders read (used by ``warm_start``).
    attention_scopes_ : tuple
        The attention used on the user side and on the item side after resolving 'auto'.
    batch_sizes_ : tuple of int
        The user and item batch sizes used, after resolving 'auto'.
    n_iter_ : int
        Iterations run.
    loss_curve_ : list of float
        Negative ELBO per training rating (up to a constant) at each iteration.
    validation_scores_ : list of float or None
        Validation RMSE after each iteration (None without early stopping).
    best_validation_score_ : float or None
        Best validation RMSE.
    best_iteration_ : int
        Iteration whose state the model holds.
    refitted_ : bool
        Whether the model holds the run refit on every rating (``refit=True`` or 'average');
        False when the refit fitted the validation ratings worse than the validated model and
        was discarded, which leaves the validated model alone.
    device_ : str
        Device used for training.
    n_features_in_ : int
        Always 2.
    feature_names_in_ : ndarray
        Column names when X was a DataFrame.

    Notes
    -----
    Choices where the paper is silent (each discussed in the documentation's model page):

    * The defaults are the configuration that scored best on validation data of MovieLens-100K
      and FilmTrust (the results page lists the measurements). Five of them add to the paper's
      model: ``baseline='auto'`` (on sparse data), ``input_dropout='auto'`` (on dense data),
      ``biases=True``, ``weight_averaging=0.99`` and ``refit='average'``; one removes a part of
      it: ``attention=None``. ``attention='auto', biases=False, baseline=False,
      input_dropout=0.0, weight_averaging=0.0, refit=False`` is the paper's full model exactly.

    * The KL term of a user enters each (user batch, item batch) block divided by the number of
      item batches, and an item's by the number of user batches, so one iteration adds up to
      Eq. 7 whatever the batch sizes.
    * After attention, the variance is the sigmoid of the linear map of [variance; context], so it
      stays in (0, 1).
    * The first cross-fed embeddings are drawn from the prior N(0, I); each block then writes the
      samples (``feedback='sample'``) of its rows for the next iteration.
    * Predictions use the posterior means of the final encoders fed with the last cross-fed
      embeddings: ``offset(u, v) + scale * (mu_u . mu_v + b_u + b_v)`` (``b`` only with
      ``biases=True``; the offsets and the scale are described with ``decoder_offset_``),
      clipped to ``rating_range_``. ``predict(X, return_std=True)`` adds the variational
      variance of the dot product, ``sum_k (mu_u^2 s_v + mu_v^2 s_u + s_u s_v)``, the biases'
      variances and ``noise_variance_``.
    * Pairs with an unknown id get ``global_mean_`` plus the known side's fallback deviation.

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
    >>> item_ids, scores = model.recommend([X[0, 0]], n=5)
    >>> item_ids.shape
    (1, 5)
    """

    _parameter_constraints: dict = {
        **BaseRatingEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "intermediate_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "fusion_layer_sizes": ["array-like"],
        "beta_user": [Interval(Real, 0, None, closed="left")],
        "beta_item": [Interval(Real, 0, None, closed="left")],
        "attention": [StrOptions({"local", "global", "auto"}), None],
        "attention_norm": [StrOptions({"softmax", "ratio"})],
        "cross_feedback": ["boolean"],
        "use_ratings": ["boolean"],
        "latent_input": [StrOptions({"concat", "mean"})],
        "biases": ["boolean"],
        "free_means": ["boolean"],
        "free_means_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learn_prior_variance": ["boolean"],
        "feedback": [StrOptions({"sample", "mean"})],
        "standardize": ["boolean"],
        "baseline": ["boolean", StrOptions({"auto"})],
        "baseline_damping": [Interval(Real, 0, None, closed="left")],
        "input_dropout": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
        "weight_averaging": [Interval(Real, 0, 1, closed="left")],
        "refinement_passes": [Interval(Integral, 0, None, closed="left")],
        "read_validation_ratings": ["boolean"],
        "refit": ["boolean", StrOptions({"average"})],
        "user_batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "item_batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "schedule": [StrOptions({"nested", "alternating"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        n_components=15,
        intermediate_dim=25,
        hidden_layer_sizes=(50,),
        fusion_layer_sizes=(),
        beta_user=0.01,
        beta_item=0.01,
        attention=None,
        attention_norm="softmax",
        cross_feedback=True,
        use_ratings=True,
        latent_input="concat",
        biases=True,
        free_means=False,
        free_means_learning_rate=0.03,
        learn_prior_variance=False,
        feedback="sample",
        standardize=True,
        baseline="auto",
        baseline_damping=5.0,
        input_dropout="auto",
        weight_averaging=0.99,
        refinement_passes=0,
        read_validation_ratings=False,
        refit="average",
        user_batch_size="auto",
        item_batch_size="auto",
        schedule="nested",
        max_iter=200,
        learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=30,
        tol=1e-4,
        handle_unknown="mean",
        random_state=None,
        device="auto",
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.intermediate_dim = intermediate_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.fusion_layer_sizes = fusion_layer_sizes
        self.beta_user = beta_user
        self.beta_item = beta_item
        self.attention = attention
        self.attention_norm = attention_norm
        self.cross_feedback = cross_feedback
        self.use_ratings = use_ratings
        self.latent_input = latent_input
        self.biases = biases
        self.free_means = free_means
        self.free_means_learning_rate = free_means_learning_rate
        self.learn_prior_variance = learn_prior_variance
        self.feedback = feedback
        self.standardize = standardize
        self.baseline = baseline
        self.baseline_damping = baseline_damping
        self.input_dropout = input_dropout
        self.weight_averaging = weight_averaging
        self.refinement_passes = refinement_passes
        self.read_validation_ratings = read_validation_ratings
        self.refit = refit
        self.user_batch_size = user_batch_size
        self.item_batch_size = item_batch_size
        self.schedule = schedule
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

    # ----------------------------------------------------------------- fitting
    @property
    def _divergence_advice(self):
        advice = "Lower learning_rate"
        if self.attention is not None and self.attention_norm == "ratio":
            advice += ", or use attention_norm='softmax' (Eq. 9's ratio of signed scores can blow up)"
        return advice

    def _untrained_rmse(self, train):
        if self.standardize or self.uses_baseline_:
            return super()._untrained_rmse(train)
        return root_mean_square(train.values)  # the paper's decoder starts from predictions near 0

    def _model_config(self):
        if not (self.use_ratings or self.cross_feedback):
            raise ValueError("use_ratings=False and cross_feedback=False leave the encoders no input.")
        if self.attention is not None and not self.cross_feedback:
            raise ValueError(
                f"attention={self.attention!r} attends to the cross-fed embeddings and needs "
                "cross_feedback=True; set attention=None to remove both."
            )
        return _ModelConfig(
            n_components=self.n_components,
            intermediate_dim=self.intermediate_dim,
            hidden_layer_sizes=_check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes"),
            fusion_layer_sizes=_check_layer_sizes(self.fusion_layer_sizes, "fusion_layer_sizes"),
            use_ratings=self.use_ratings,
            cross_feedback=self.cross_feedback,
            latent_input=self.latent_input,
            attention=self.attention,
            attention_norm=self.attention_norm,
            biases=self.biases,
            free_means=self.free_means,
            learn_prior_variance=self.learn_prior_variance,
        )

    def _network_changes(self):
        # The networks carry the configuration they were built with: name what changed.
        fitted, wanted = self.module_.user_encoder.config, self._model_config()
        return [f"{field.name} from {getattr(fitted, field.name)!r} to {getattr(wanted, field.name)!r}"
                for field in fields(_ModelConfig) if getattr(fitted, field.name) != getattr(wanted, field.name)]

    def _resolve_attention(self, sparse_sides):
        if self.attention != "auto":
            return (self.attention, self.attention)
        return tuple("global" if sparse else "local" for sparse in sparse_sides)

    def _resolve_baseline(self, sparse_sides):
        return any(sparse_sides) if self.baseline == "auto" else self.baseline

    def _resolve_input_dropout(self, sparse_sides):
        if self.input_dropout != "auto":
            return float(self.input_dropout)
        return 0.0 if any(sparse_sides) else AUTO_INPUT_DROPOUT

    def _resolve_batch_sizes(self, train):
        sizes = []
        for size, n_rows in ((self.user_batch_size, train.n_users), (self.item_batch_size, train.n_items)):
            if size == "auto":
                size = max(AUTO_MIN_BATCH_SIZE, -(-n_rows // AUTO_MAX_BATCHES))
            sizes.append(size)
        return tuple(sizes)

    def _trainer_settings(self):
        """What the trainer reads: the parameters of the same names, 'auto' values resolved."""
        values = {field.name: getattr(self, field.name) for field in fields(_TrainerSettings)}
        values["user_batch_size"], values["item_batch_size"] = self.batch_sizes_
        values["input_dropout"] = self.input_dropout_
        return _TrainerSettings(**values)

    def _make_module(self, generator, device):
        return CrossFeedbackVAE(self.n_users_, self.n_items_, self.attention_scopes_,
                                self._model_config(), generator, device)

    def _module_factory(self):
        return {"module_": lambda: self._make_module(torch.Generator(), torch.device("cpu"))}

    def _fit_ratings(self, train, valid, rng, incremental):
        device = resolve_device(self.device)
        generator = make_generator(rng, device)
        self.device_ = str(device)
        sparse_sides = _sparse_sides(train)
        if not incremental:
            # A warm start keeps the first fit's choices, which its networks were trained for.
            self.attention_scopes_ = self._resolve_attention(sparse_sides)
            self.uses_baseline_ = self._resolve_baseline(sparse_sides)
        # A training setting, not part of the networks: every fit, warm or not, uses its own.
        self.input_dropout_ = self._resolve_input_dropout(sparse_sides)
        self.batch_sizes_ = self._resolve_batch_sizes(train)
        # The starting point (fresh or warm), kept for the refit, which starts from it again.
        start = self._starting_point(generator, device, incremental)
        trainer, history = self._train(train, valid, start(), rng, generator, device, self.max_iter)
        self.refitted_ = False
        everything = train if valid is None else train.concatenate(valid)
        kept = (trainer,)
        if valid is not None and self.refit:
            final = self._refit(trainer, history, everything, valid, start(), rng, generator, device)
            kept = (trainer, final) if self.refit == "average" and self.refitted_ else (final,)
            # ``module_`` and ``feedback_embeddings_`` (a warm start's point) are the last run's.
            trainer = final
        elif valid is not None and self.read_validation_ratings:
            trainer.read_ratings(everything)
        self._store_posteriors(*kept)
        self.module_ = trainer.model
        self.feedback_embeddings_ = (trainer.feedback_users.cpu().numpy(),
                                     trainer.feedback_items.cpu().numpy())
        self.n_iter_ = history.n_iter
        self.loss_curve_ = history.loss_curve
        self.validation_scores_ = history.validation_scores
        self.best_validation_score_ = history.best_score if valid is not None else None
        self.best_iteration_ = history.best_iteration if valid is not None else history.n_iter
        self.noise_variance_ = self._rmse(everything if self.refitted_ else train) ** 2

    def _refit(self, validated, history, everything, valid, start, rng, generator, device):
        """Train on ``everything`` (training and validation ratings) for the validated number of
        iterations.

        The refit model has trained on the validation ratings, so it should fit them at least as
        well as the validated model, which never saw them; when it does not, the refit run went
        astray (a spike of the sampled cross feedback, say) and the validated model is kept.
        """
        with warnings.catch_warnings():
            # The refit runs the chosen number of iterations by design, not to convergence.
            warnings.simplefilter("ignore", ConvergenceWarning)
            trainer, _ = self._train(everything, None, start, rng, generator, device, history.best_iteration)
        self._store_posteriors(trainer)
        refit_rmse = self._rmse(valid)
        if refit_rmse > history.best_score:
            warnings.warn(
                f"{type(self).__name__}: the refit on all ratings fits the validation ratings worse "
                f"(RMSE {refit_rmse:.4f}) than the validated model that never saw them "
                f"({history.best_score:.4f}); keeping the validated model.",
                ConvergenceWarning,
            )
            return validated
        self.refitted_ = True
        return trainer

    def _starting_point(self, generator, device, incremental):
        """A callable returning a fresh copy of the (module, cross-fed embeddings) to train from."""
        if not incremental:
            config = self._model_config()
            return lambda: (CrossFeedbackVAE(self.n_users_, self.n_items_, self.attention_scopes_,
                                             config, generator, device), None)
        # Each run trains its own copy, so ``module_`` itself stays the warm starting point.
        feedback = tuple(as_tensor(e, device, torch.float32) for e in self.feedback_embeddings_)
        return lambda: (copy.deepcopy(self.module_).to(device), tuple(e.clone() for e in feedback))

    def _train(self, train, valid, start, rng, generator, device, max_iter):
        """Run Algorithm 1 on ``train`` from ``start``; returns the trainer and its history."""
        module, feedback = start
        input_scale = max(abs(self.rating_range_[0]), abs(self.rating_range_[1])) or 1.0
        trainer = CrossFeedbackTrainer(module, train, self._trainer_settings(), input_scale,
                                       self._fit_decoder(train), rng, generator, device, feedback)

        def validation_rmse():
            self._store_posteriors(trainer)
            return self._rmse(valid)

        module.train()
        history = run_iterations(
            self, trainer.train_one_iteration, validation_rmse, trainer.get_state, trainer.set_state,
            max_iter=max_iter, early_stopping=valid is not None,
        )
        module.eval()
        trainer.finalise()
        return trainer, history

    def _rmse(self, table):
        """RMSE of the stored posteriors' predictions on an encoded rating table."""
        return root_mean_square(self._predict_codes(table.users, table.items) - table.values)

    def _fit_decoder(self, train):
        """The decoder's offsets and scale, from the ratings a run trains on."""
        peak = float(np.max(np.abs(train.values)))
        if not self.standardize and peak and not RAW_RATING_MAGNITUDES[0] <= peak <= RAW_RATING_MAGNITUDES[1]:
            raise ValueError(
                f"standardize=False models the raw ratings in float32, but the largest rating "
                f"magnitude is {peak:.3g}, outside [{RAW_RATING_MAGNITUDES[0]:g}, "
                f"{RAW_RATING_MAGNITUDES[1]:g}]; rescale y or use standardize=True."
            )
        if not self.uses_baseline_:
            zeros = np.zeros(self.n_users_), np.zeros(self.n_items_)
            if self.standardize:
                return _Decoder(self.global_mean_, *zeros, self.rating_std_)
            return _Decoder(0.0, *zeros, 1.0)
        decoder = _Decoder(*damped_biases(train, self.baseline_damping), 1.0)
        if self.standardize:
            decoder = replace(decoder, scale=float(np.std(decoder.standardise(train))) or 1.0)
        return decoder

    def _store_posteriors(self, *trainers):
        """Store the posteriors of the model whose scores average those of ``trainers``' models.

        Averaging dot products is one dot product of the concatenated embeddings, each run's
        scaled by the square root of its weight; the biases add up weighted, the decoders'
        offsets average. A run's weight ``scale / (mean scale * n_runs)`` also carries its own
        decoder scale, so that the stored model predicts the average of the runs' predictions
        (before clipping); its variances are those of that average for independent runs.
        """
        decoders = [trainer.decoder for trainer in trainers]
        decoder = _Decoder(*(np.mean([getattr(d, name) for d in decoders], axis=0)
                             for name in ("offset", "user_offsets", "item_offsets", "scale")))
        self.decoder_offset_, self.decoder_scale_ = float(decoder.offset), float(decoder.scale)
        self.baseline_user_biases_, self.baseline_item_biases_ = decoder.user_offsets, decoder.item_offsets
        user_runs, item_runs = [], []
        for trainer in trainers:
            weight = trainer.decoder.scale / (decoder.scale * len(trainers))
            user_means, user_vars, item_means, item_vars = (
                tensor.cpu().double().numpy() for tensor in trainer.encode_all(self.refinement_passes)
            )
            user_runs.append(self._weighted_side(user_means, user_vars, weight))
            item_runs.append(self._weighted_side(item_means, item_vars, weight))
        (self.user_embeddings_, self.user_variances_, self.user_biases_,
         self.user_bias_variances_) = _side_by_side(user_runs)
        (self.item_embeddings_, self.item_variances_, self.item_biases_,
         self.item_bias_variances_) = _side_by_side(item_runs)

    def _weighted_side(self, means, variances, weight):
        """One side's (factors, their variances, biases, their variances) of a run, the factors
        scaled by ``sqrt(weight)`` and the biases by ``weight`` (zeros with ``biases=False``)."""
        k = self.n_components
        factors = means[:, :k] * weight**0.5, variances[:, :k] * weight
        if not self.biases:
            zeros = np.zeros(len(means))
            return (*factors, zeros, zeros)
        return (*factors, means[:, k] * weight, variances[:, k] * weight**2)

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

    def _score_items(self, users):
        standardised = self.user_embeddings_[users] @ self.item_embeddings_.T
        standardised += self.user_biases_[users, None] + self.item_biases_[None, :]
        decoder = self._decoder
        offsets = decoder.offsets(users[:, None], np.arange(self.n_items_)[None, :])
        return offsets + decoder.scale * standardised

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
