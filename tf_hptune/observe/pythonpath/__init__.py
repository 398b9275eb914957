"""Not imported as a package: this directory goes first on each trial's PYTHONPATH so that its
``sitecustomize`` runs at interpreter start (see ``tf_hptune.observe``)."""
