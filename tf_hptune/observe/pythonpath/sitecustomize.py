"""tf_hptune's trial hook: this directory is put first on each tuning trial's PYTHONPATH.

Inside a tuning trial it adds the trial's import hook (``_tf_hptune_observe``: where summary
writers are opened, and the runtime mode); in every case it then runs the ``sitecustomize``
module it hides, if any. Failures are printed and never stop the interpreter.
"""
import os
import sys

try:
    import _tf_hptune_observe

    _tf_hptune_observe.install()
except Exception as exc:
    print(f"tf_hptune: trial hook not installed: {exc!r}", file=sys.stderr)
else:
    try:
        _tf_hptune_observe.chain_sitecustomize(os.path.dirname(os.path.abspath(__file__)))
    except Exception as exc:  # as site.py does for sitecustomize errors
        print(f"Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
