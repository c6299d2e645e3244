"""Training: distributed helpers, the fastai callbacks and the Learner."""
