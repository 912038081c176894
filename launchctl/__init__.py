"""The launch controller's CLI (this package), its embedded local AWS (`local/`) and the build of what is
deployed (`build/`); never deployed to Lambda."""
