"""AQ Coach evals: datasets, judges, the runner, reports and judge self-tests (`aq-coach eval`)."""
