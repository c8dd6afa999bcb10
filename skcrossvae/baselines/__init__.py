from ._biased_mf import BiasedMFRegressor
