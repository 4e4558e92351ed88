"""The phone app's entry point: buildozer (verifier_app/buildozer.spec) packages from the repository root and
python-for-android runs ``main.py`` there. It starts the verifier with its saved configuration."""

from verifier_app.__main__ import main

if __name__ == "__main__":
    main([])
