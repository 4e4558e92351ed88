"""The phone apps' entry point: buildozer packages from the repository root and python-for-android runs
``main.py`` there. Each app's buildozer.spec leaves the other app's folder out, so the app found beside this
file is the one to start: the verifier (verifier_app/buildozer.spec) or the wallet (wallet_app/buildozer.spec).
On a desktop, with both present, it starts the verifier, as ``python -m verifier_app`` does."""

from importlib.util import find_spec


def main() -> None:
    if find_spec("verifier_app") is not None:
        from verifier_app.__main__ import main as start
    else:
        from wallet_app.__main__ import main as start
    start([])


if __name__ == "__main__":
    main()
