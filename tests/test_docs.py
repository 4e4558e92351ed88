"""The documentation site: every guide's code runs as written (the runner tests/test_readme.py uses too), the
error codes table covers every code, a public name without a docstring fails the strict build, and the
version is written in one place."""

from __future__ import annotations

import pytest

from conftest import ROOT
from markdown_code import blocks, run_page

GUIDES = ROOT / "docs" / "guides"


def run_guide(name: str, tmp_path, monkeypatch, namespace: dict | None = None) -> dict:
    monkeypatch.chdir(tmp_path)
    page = GUIDES / f"{name}.md"
    assert blocks(page), f"{name}.md has no code"
    return run_page(page, namespace=namespace)


def test_till_guide(tmp_path, monkeypatch, capsys):
    namespace = run_guide("till", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "accept OVER 18" in out and "replayed" in out
    assert namespace["verdict"].decision == "accept"


def test_verify_guide(tmp_path, monkeypatch, capsys):
    namespace = run_guide("verify", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "org.iso.18013.5.1.mDL True" in out and "['kb_nonce_mismatch']" in out
    assert "device_auth_failed" in out and "digest_mismatch" in out
    assert namespace["checked"].valid and not namespace["wrong_nonce"].valid


def test_issuer_service_guide(tmp_path, monkeypatch, capsys):
    namespace: dict = {}
    try:
        run_guide("issuer-service", tmp_path, monkeypatch, namespace)
        out = capsys.readouterr().out
        assert "3 uk.gov.dvla.age.1" in out and "invalid" in out
        assert namespace["service"].returncode is not None, "the guide stops the service it started"
    finally:
        if namespace.get("service") is not None and namespace["service"].poll() is None:
            namespace["service"].kill()


def test_website_guide(tmp_path, monkeypatch, capsys):
    namespace = run_guide("website", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "Example Shop ['age_over_18']" in out
    assert out.count("'valid': True, 'claims': {'age_over_18': True}") == 2, out
    assert namespace["protocol"] == "openid4vp-v1-signed"


def test_credential_type_guide(tmp_path, monkeypatch, capsys):
    from didlib.mdoc import registry

    monkeypatch.setattr(registry, "PROFILES", dict(registry.PROFILES))  # the guide registers a type
    namespace = run_guide("credential-type", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "True {'age_over_18': True, 'card_number': '00421337'}" in out
    assert "invalid_element org.example.library.1.card_number" in out
    assert namespace["NS"] in registry.PROFILES


def test_trust_guide(tmp_path, monkeypatch, capsys):
    run_guide("trust", tmp_path, monkeypatch)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["DVLA IACA", "untrusted_issuer"]
    assert out[2] == "Corner Shop {'uk.gov.dvla.age.1': {'uk.gov.dvla.age.1': ['age_over_18']}}"
    assert out[3:] == ["1 1 ['https://dvla.example/status/1']", "bad_signature"]


def test_errors_guide(tmp_path, monkeypatch, capsys):
    run_guide("errors", tmp_path, monkeypatch)
    assert capsys.readouterr().out.split() == ["DecodeError", "not_didlib_qr", "True"]


# ------------------------------------------------------------------------------------------ the error codes table
def error_codes():
    import sys

    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import error_codes
    finally:
        sys.path.remove(str(ROOT / "docs"))
    return error_codes


def _covered(code: str, table: dict) -> bool:
    import fnmatch

    return code in table or any("*" in pattern and fnmatch.fnmatchcase(code, pattern) for pattern in table)


def test_error_table_covers_every_error_class():
    """Every DidlibError subclass anywhere in didlib (imported, not read) has its code in the table."""
    import importlib
    import pkgutil

    import didlib
    from didlib.errors import DidlibError

    for module in pkgutil.walk_packages(didlib.__path__, "didlib."):
        importlib.import_module(module.name)
    table = error_codes().scan()
    classes, todo = [], [DidlibError]
    while todo:
        classes.append(todo.pop())
        todo += classes[-1].__subclasses__()
    missing = {c.__name__: c.code for c in classes if c.__module__.startswith("didlib") and not _covered(c.code, table)}
    assert not missing
    assert len(classes) >= 17


def test_error_table_covers_every_code_literal():
    """A second reading, by text rather than syntax tree: every code=..., Problem(...) and verdict code in the
    source, and the verifier's reasons for people, are in the table."""
    import re

    from didlib.verifier.policies import PLAIN

    table = error_codes().scan()
    source = "\n".join(p.read_text() for p in (ROOT / "didlib").rglob("*.py"))
    literals = set(re.findall(r"\bcode\s*=\s*\"([a-z0-9_]+)\"", source))
    literals |= set(re.findall(r"\b(?:Problem|OID4VCIError)\(\s*\"([a-z0-9_]+)\"", source))
    literals |= set(re.findall(r"codes\.append\(\"([a-z0-9_]+)\"\)", source))
    literals |= set(re.findall(r"Verdict\(.*?\[\"([a-z0-9_]+)\"\]\)", source))
    assert len(literals) > 100
    assert not {c for c in literals | set(PLAIN) if not _covered(c, table)}


def test_error_table_covers_codes_seen_at_run_time(pki, trust, device_key, age_credential):
    """Codes a verifier really reports, from bad input of each kind, are all in the table."""
    from didlib.mdoc import present_elements, verify_response
    from didlib.sdjwt import verify_sd_jwt_vc
    from didlib.session.transcript import fresh_qr_transcript
    from didlib.status import StatusChecker
    from didlib.verifier import AgePolicy, TrustData, VerifierEngine

    table = error_codes().scan()
    transcript, _ = fresh_qr_transcript()
    other, _ = fresh_qr_transcript()
    response = present_elements(age_credential, device_key, ["age_over_18"], transcript)
    seen = {e.code for e in verify_response(response, trust=trust, session_transcript=other).errors}
    seen |= {e.code for e in verify_response(b"\xa1", trust=trust, session_transcript=transcript).errors}
    seen |= {e.code for e in verify_response(response, trust=trust, session_transcript=transcript,
                                             status_checker=StatusChecker({}, trust=trust)).errors}
    seen |= {e.code for e in verify_sd_jwt_vc("x~", trust=trust, nonce="n", aud="a").errors}
    till = VerifierEngine(AgePolicy(18), TrustData(trust))
    seen |= set(till.scan("nonsense").codes)
    assert {"device_auth_failed", "not_didlib_qr"} <= seen and len(seen) >= 4, seen
    assert not {c for c in seen if not _covered(c, table)}


def test_error_table_markdown():
    codes = error_codes()
    table = codes.markdown()
    rows = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert rows == sorted(codes.scan())
    assert "| `device_auth_failed` |" in table and "[`UntrustedIssuer`][didlib.errors.UntrustedIssuer]" in table
    from didlib.verifier.policies import PLAIN

    replayed = next(line for line in table.splitlines() if line.startswith("| `replayed` |"))
    assert f"| *{PLAIN['replayed']}*; " in replayed, "what a till shows comes first"


# ------------------------------------------------------------------------------------------ one version
def test_the_version_is_written_once():
    """didlib.__version__ is the version: the package metadata reads it (setuptools' dynamic version), and the
    issuer service, both Android apps and the changelog's latest release say the same."""
    import configparser
    import re
    import tomllib

    from setuptools.config.expand import read_attr

    import didlib

    version = didlib.__version__
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert read_attr(attr, root_dir=ROOT) == version  # how setuptools reads it when building
    for app in ("verifier_app", "wallet_app"):
        spec = configparser.ConfigParser()
        spec.read(ROOT / app / "buildozer.spec")
        assert spec["app"]["version"] == version, f"{app}/buildozer.spec"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.findall(r"^## \[([^\]]+)\]", changelog, re.M)[:2] == ["Unreleased", version]


def test_the_issuer_service_reports_the_version(tmp_path):
    from fastapi.testclient import TestClient

    import didlib
    from issuer_service.app import create_app
    from issuer_service.config import Settings

    app = create_app(Settings.from_env({"DIDLIB_ISSUER_DATA": str(tmp_path), "DIDLIB_ADMIN_TOKEN": "t"}))
    assert app.version == didlib.__version__
    assert TestClient(app).app.openapi()["info"]["version"] == didlib.__version__


# ------------------------------------------------------------------------------------------ the strict build
SITE = """site_name: strictness
docs_dir: docs
theme:
  name: material
  font: false
hooks:
  - {hooks}
plugins:
  - mkdocstrings:
      handlers:
        python:
          paths: [src]
          options:
            show_if_no_docstring: true
            filters: public
"""
PACKAGE = '''"""A package the strict build is tried on."""

__all__ = ["documented", "helper"]


def documented() -> int:
    """Says why."""
    return 1


def helper() -> int:{docstring}
    return 2


def internal() -> int:
    return 3
'''


@pytest.mark.parametrize("breakage", ["none", "docstring", "link", "reference"])
def test_the_strict_build_fails_on(breakage, tmp_path):
    """The site's own hooks and mkdocs build --strict on a small site: each kind of defect fails the build, and
    the same site without it builds. (``internal`` has no docstring and is not public: no failure.)"""
    import shutil
    import subprocess
    import sys

    pytest.importorskip("mkdocstrings")
    (tmp_path / "mkdocs.yml").write_text(SITE.format(hooks=ROOT / "docs" / "hooks.py"))
    (tmp_path / "src" / "strictpkg").mkdir(parents=True)
    docstring = "" if breakage == "docstring" else '\n    """Says why too."""'
    (tmp_path / "src" / "strictpkg" / "__init__.py").write_text(PACKAGE.format(docstring=docstring))
    (tmp_path / "docs" / "reference").mkdir(parents=True)
    (tmp_path / "docs" / "reference" / "api.md").write_text("# API\n\n::: strictpkg\n")
    link = {"link": "[a guide](guides/gone.md)", "reference": "[helper][strictpkg.gone]"}.get(breakage, "")
    (tmp_path / "docs" / "index.md").write_text(f"# Home\n\nSee [the API](reference/api.md). {link}\n")
    # With no network at all where a network namespace can be made (root, as in CI): the build fetches nothing.
    unshare = shutil.which("unshare")
    isolated = bool(unshare) and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")]
    built = subprocess.run(([unshare, "-n"] if isolated else []) + command, capture_output=True, text=True,
                           timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    log = built.stdout + built.stderr
    if breakage == "none":
        assert built.returncode == 0, log
        assert "helper" in (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
        return
    assert built.returncode != 0, log
    assert {"docstring": "public name without a docstring: strictpkg.helper", "link": "guides/gone.md",
            "reference": "strictpkg.gone"}[breakage] in log, log


def test_make_docs_is_strict_and_not_quiet():
    """``mkdocs build --quiet`` drops warnings before ``--strict`` counts them: a quiet strict build passes with
    any defect (tried: a public name without a docstring built with exit status 0)."""
    import re

    recipe = re.search(r"^docs:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "make docs"
    assert "mkdocs build --strict" in recipe.group(1)
    assert not re.search(r"\s(-q|--quiet)\b", recipe.group(1))
    assert re.search(r"^test:.*\bdocs\b", (ROOT / "Makefile").read_text(), re.M), "make test builds the docs"


# ------------------------------------------------------------------------------------------ what is public
def test_every_module_says_what_it_exports():
    """Each didlib module has an explicit __all__ naming only what it has: the reference documents exactly
    that, and nothing internal reads as public."""
    import importlib
    import pkgutil

    import didlib

    names = ["didlib", *(m.name for m in pkgutil.walk_packages(didlib.__path__, "didlib."))]
    for name in names:
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        assert isinstance(exported, list) and exported, f"{name} has no __all__"
        assert len(set(exported)) == len(exported), f"{name}.__all__ names something twice"
        assert not [n for n in exported if not hasattr(module, n)], name


def test_the_reference_covers_the_public_face():
    """The API reference renders didlib and every subpackage (each one's __all__), and only didlib modules."""
    import re

    rendered = {m for page in (ROOT / "docs" / "reference").glob("*.md")
                for m in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M)}
    packages = {"didlib"} | {".".join(init.parent.relative_to(ROOT).parts)
                             for init in (ROOT / "didlib").rglob("*/__init__.py")}
    assert packages <= rendered, packages - rendered
    assert all(m == "didlib" or m.startswith("didlib.") for m in rendered)


def test_sphinx_roles_become_code_spans():
    import sys

    pytest.importorskip("griffe")
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from griffe_roles import plain
    finally:
        sys.path.remove(str(ROOT / "docs"))
    assert plain("see :class:`TrustStore` and :meth:`~didlib.oid4vp.PresentationRequest.check`, :mod:`didlib.mdoc`") \
        == "see `TrustStore` and `check`, `didlib.mdoc`"


def test_the_readme_links_the_guides_and_nothing_broken():
    """The README stays the quick start and links every guide; its relative links lead to files that exist
    (the site's own links are checked by the strict build)."""
    import re

    readme = (ROOT / "README.md").read_text()
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", readme) if not re.match(r"[a-z]+:|#", t)]
    assert not [t for t in targets if not (ROOT / t).exists()]
    assert {f"docs/guides/{g.name}" for g in GUIDES.glob("*.md")} <= set(targets)
