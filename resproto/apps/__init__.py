"""The console scripts: resproto_train, resproto_test, resproto_demo, resproto_preprocess and resproto_detect."""
