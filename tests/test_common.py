"""scikit-learn's common estimator checks, run over every estimator of the package."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from _estimators import all_estimators, fast_instance

_NOT_TWO_COLUMNS = (
    "the check draws X with 3 or more feature columns; an id-pair estimator takes exactly two "
    "columns (user id, item id) and rejects other shapes with a ValueError. The behaviour this "
    "check protects is tested on id pairs in tests/test_behaviour.py"
)

EXPECTED_FAILED_CHECKS = {
    name: _NOT_TWO_COLUMNS
    for name in [
        "check_fit_score_takes_y",
        "check_dont_overwrite_parameters",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_regressors_train",
        "check_regressor_data_not_an_array",
        "check_regressors_no_decision_function",
        "check_supervised_y_2d",
        "check_regressors_int",
        "check_non_transformer_estimators_n_iter",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_dict_unchanged",
        "check_fit2d_predict1d",
        "check_sample_weights_list",
        "check_all_zero_sample_weights_error",
        "check_sample_weight_equivalence_on_dense_data",
    ]
}
_REPEATED_PAIRS = (
    "the check's X holds repeated (user, item) pairs; an id-pair estimator takes one rating per pair "
    "and rejects repeats with a ValueError naming them. sample_weight's shape checks and its "
    "'ones', 'zeros' and in-place behaviour are tested on id pairs in tests/test_base.py"
)
EXPECTED_FAILED_CHECKS.update({name: _REPEATED_PAIRS for name in [
    "check_sample_weights_shape", "check_sample_weights_not_overwritten"]})
EXPECTED_FAILED_CHECKS["check_fit2d_1sample"] = (
    "the check fits X of shape (1, 10) and expects a message about one sample; the estimator "
    "first rejects the 10 columns (it needs exactly two)"
)


@parametrize_with_checks(
    [fast_instance(cls) for cls in all_estimators()],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
