"""The two ways to build each image agree: the Dockerfile (docker, elsewhere) and
`schedcp dev images` (mmdebstrap and umoci, here) read the same package list, copy the same
source, run the same entrypoint as the same user, and both take the CA bundle explicitly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schedcp_cli.devimages.rootfs import BUILD_CA, install_commands, mmdebstrap_args
from schedcp_cli.devimages.spec import DEBIAN_SUITES, IMAGES, OPERATOR, REPO, SOURCE_DIR, SOURCE_PATHS, ImageSpec

pytestmark = pytest.mark.unit

CA = Path("/etc/ssl/certs/ca-certificates.crt")


def instructions(spec: ImageSpec) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (REPO / spec.dockerfile).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def stages(spec: ImageSpec) -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions by its name (the last one also under ""), its FROM first."""
    named: dict[str, list[tuple[str, str]]] = {}
    for op, args in instructions(spec):
        if op == "FROM":
            current: list[tuple[str, str]] = []
            words = args.split()
            named[words[2] if len(words) == 3 and words[1].upper() == "AS" else ""] = current
        if named:
            current.append((op, args))
    return named


def image_stages(spec: ImageSpec) -> list[tuple[str, str]]:
    """What the image is made of: its target stage and the stages it is FROM, base first."""
    named = stages(spec)
    chain, stage = [], named[spec.target or ""]
    while True:
        chain[:0] = stage
        parent = stage[0][1].split()[0]
        if parent not in named or not named[parent]:
            return chain
        stage = named[parent]


@pytest.mark.parametrize("spec", IMAGES, ids=lambda s: s.name)
def test_the_dockerfile_base_is_the_suite_mmdebstrap_builds(spec: ImageSpec) -> None:
    [base] = [args for op, args in instructions(spec) if op == "ARG" and args.startswith("DEBIAN_IMAGE=")]
    major = re.fullmatch(r"DEBIAN_IMAGE=debian:(\d+)\.\d+-slim", base)
    assert major, base
    assert DEBIAN_SUITES[major.group(1)] == spec.suite


@pytest.mark.parametrize("spec", IMAGES, ids=lambda s: s.name)
def test_the_dockerfile_installs_the_shared_package_lists_and_nothing_else(spec: ImageSpec) -> None:
    steps = image_stages(spec)
    copies = [args.split() for op, args in steps if op == "COPY" and args.endswith("/tmp/image-packages.txt")]
    assert copies == [[str(path), "/tmp/image-packages.txt"] for path in spec.packages_files]
    installs = [args for op, args in steps if op == "RUN" and "apt-get install" in args]
    assert len(installs) == len(spec.packages_files)
    for install in installs:
        tail = install.split("--no-install-recommends", 1)[1]
        assert tail.split()[0] == "&&", f"packages named in {spec.dockerfile} itself, not in its lists: {tail}"
    assert spec.packages(), spec.packages_files


@pytest.mark.parametrize("spec", IMAGES, ids=lambda s: s.name)
def test_both_install_the_same_source_tree_the_same_way(spec: ImageSpec) -> None:
    steps = instructions(spec)
    workdir = [args for op, args in steps if op == "WORKDIR"]
    copies = [args.split()[:-1] for op, args in steps
              if op == "COPY" and "--from" not in args and not args.endswith("/tmp/image-packages.txt")]
    copied = [path for sources in copies for path in sources]
    assert workdir == [SOURCE_DIR]
    assert sorted(copied) == sorted(SOURCE_PATHS)
    [pip] = [args for op, args in steps if op == "RUN" and "pip install" in args]
    assert f"pip install --no-cache-dir -e {SOURCE_DIR}" in pip
    assert any(f"pip install --no-cache-dir --no-compile -q -e {SOURCE_DIR}" in c for c in install_commands(spec, CA))


@pytest.mark.parametrize("spec", IMAGES, ids=lambda s: s.name)
def test_both_run_the_same_entrypoint_as_the_same_user_with_the_same_environment(spec: ImageSpec) -> None:
    stage = image_stages(spec)
    [entrypoint] = [args for op, args in stage if op == "ENTRYPOINT"]
    assert entrypoint == f'["{spec.entrypoint}"]'
    [user] = [args for op, args in stage if op == "USER"]
    assert user == spec.user
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(args for op, args in stage if op == "ENV")))
    assert env.pop("PATH") == "/opt/schedcp/venv/bin:$PATH"
    assert env == {k: v for k, v in spec.env.items() if k != "PATH"}
    assert spec.env["PATH"].startswith("/opt/schedcp/venv/bin:")
    [scx] = [args for op, args in instructions(spec) if op == "COPY" and args.startswith("--from=scx")]
    assert scx.split()[-1].rstrip("/") == spec.scx_dir


@pytest.mark.parametrize("spec", IMAGES, ids=lambda s: s.name)
def test_the_dockerfile_takes_the_ca_bundle_as_a_build_secret_where_pip_runs(spec: ImageSpec) -> None:
    """Behind an HTTPS-intercepting proxy pip fails without the proxy's CA: the build must
    take it explicitly (`--secret id=ca-bundle,src=...`), and the file says how."""
    text = (REPO / spec.dockerfile).read_text()
    assert "--secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt" in text
    for op, args in instructions(spec):
        if op == "RUN" and "pip install" in args:
            assert args.startswith("--mount=type=secret,id=ca-bundle"), args
            assert "PIP_CERT=/run/secrets/ca-bundle" in args


@pytest.mark.parametrize("spec", IMAGES, ids=lambda s: s.name)
def test_dev_images_give_pip_the_ca_bundle_and_leave_it_out_of_the_image(spec: ImageSpec, tmp_path: Path) -> None:
    [pip] = [c for c in install_commands(spec, CA) if "pip install" in c]
    assert f"PIP_CERT={BUILD_CA}" in pip
    assert not any(BUILD_CA in c for c in install_commands(spec, None))
    hooks = [a.removeprefix("--customize-hook=") for a in mmdebstrap_args(spec, tmp_path, tmp_path, CA)]
    copied = next(i for i, h in enumerate(hooks) if h.startswith(f"cp {CA}") and BUILD_CA in h)
    removed = next(i for i, h in enumerate(hooks) if h == f'rm -f "$1{BUILD_CA}"')
    used = next(i for i, h in enumerate(hooks) if "pip install" in h)
    assert copied < used < removed
    assert f"--include={','.join(spec.packages())}" in mmdebstrap_args(spec, tmp_path, tmp_path, CA)


def test_the_operators_cache_is_readable_by_its_non_root_user_both_ways() -> None:
    """The chart's seed-cache copies the image's cache as uid 65532: apt's lists lock and
    partial directory, left to root, made that copy fail on a real kubelet."""
    [provision] = [args for op, args in instructions(OPERATOR) if op == "RUN" and "provision_kernel" in args]
    cache = OPERATOR.env["SCHEDCP_CACHE_DIR"]
    assert provision.endswith(f"&& chmod -R a+rX {cache}")
    commands = install_commands(OPERATOR, CA)
    provisioned = next(i for i, c in enumerate(commands) if "provision_kernel" in c)
    assert commands[provisioned + 1] == f"chmod -R a+rX {cache}"
