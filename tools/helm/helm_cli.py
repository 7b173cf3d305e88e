"""A `helm` command for tests, over Helm v4's Go SDK (helm-python-sdk 0.2.2).

Implements the subset of helm's CLI that trustplane calls, with helm's own flags,
output formats and error wording, so the provider runs unchanged against it and
against a real helm binary:

  helm version [--short | --template TPL]
  helm upgrade --install NAME CHART [-n NS] [--create-namespace] [--version V]
       [--repo URL] [-f FILE]... [--set K=V]... [--wait[=MODE]] [--timeout D]
       [--atomic | --rollback-on-failure] [--skip-crds] [-o json|yaml|table]
  helm template NAME CHART [same chart flags] [--include-crds]
  helm status NAME [-n NS] [-o json|table]
  helm get values NAME [-n NS] [--all] [-o json|yaml]
  helm get manifest NAME [-n NS]
  helm get all NAME [-n NS] --template TPL
  helm uninstall NAME [-n NS] [--wait] [--timeout D] [--keep-history]
  helm rollback NAME [REVISION] [-n NS] [--wait] [--timeout D]
  helm package CHART_DIR [-d DIR]
  helm repo index DIR [--url URL]
  helm repo update NAME --repository-config FILE --repository-cache DIR

Charts named REPO/CHART come from a repository of --repository-config (helm's
repositories.yaml: name, url, username, password), whose index `repo update` must have
cached first, as with helm; the login goes with every request as HTTP basic auth.

Global flags: --kubeconfig, --kube-context, -n/--namespace, --debug. Unknown flags are
refused the way helm refuses them. Errors go to stderr as `Error: ...`, exit status 1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile

import yaml

VALUE_FLAGS = {
    "--kubeconfig", "--kube-context", "-n", "--namespace", "--version", "--repo",
    "-f", "--values", "--set", "--timeout", "-o", "--output", "--template", "-d",
    "--destination", "--url", "--repository-config", "--repository-cache",
}
BOOL_FLAGS = {
    "--install", "--create-namespace", "--atomic", "--rollback-on-failure", "--skip-crds",
    "--short", "--all", "--keep-history", "--include-crds", "--debug", "--wait",
}
ALIASES = {"-n": "--namespace", "-f": "--values", "-o": "--output", "-d": "--destination"}
REPEATED = {"--values", "--set"}


class CliError(Exception):
    pass


def parse_args(argv):
    """Positionals and flags, flags allowed anywhere (like cobra)."""
    positional, flags = [], {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and arg != "-":
            name, eq, inline = arg.partition("=")
            if name in BOOL_FLAGS:
                value = inline if eq else True
            elif name in VALUE_FLAGS:
                if eq:
                    value = inline
                else:
                    i += 1
                    if i >= len(argv):
                        raise CliError(f"flag needs an argument: {name}")
                    value = argv[i]
            else:
                raise CliError(f"unknown flag: {name}")
            name = ALIASES.get(name, name)
            if name in REPEATED:
                flags.setdefault(name, []).append(value)
            else:
                flags[name] = value
        else:
            positional.append(arg)
        i += 1
    return positional, flags


def go_duration_seconds(text):
    """Go's time.ParseDuration, to whole seconds (at least 1)."""
    total = 0.0
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        if m.start() != pos:
            raise CliError(f'invalid argument "{text}" for "--timeout" flag: time: invalid duration "{text}"')
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise CliError(f'invalid argument "{text}" for "--timeout" flag: time: invalid duration "{text}"')
    return max(1, int(total))


def merge(base, overlay):
    """helm's mergeMaps: maps merge recursively, anything else is replaced."""
    out = dict(base)
    for k, v in overlay.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def user_values(flags):
    import helm_python as helm

    values = {}
    for path in flags.get("--values", []):
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f) or {}
        except OSError as e:
            raise CliError(f"open {path}: {e.strerror.lower()}") from e
        if not isinstance(doc, dict):
            raise CliError(f"failed to parse {path}: error unmarshaling JSON: not a map")
        values = merge(values, doc)
    for expr in flags.get("--set", []):
        values = merge(values, helm.parse_set_string(expr))
    return values


def config(flags):
    import helm_python as helm

    kubeconfig = flags.get("--kubeconfig") or None
    return helm.Config(
        kubeconfig_path=kubeconfig,
        kube_context=flags.get("--kube-context") or os.environ.get("HELM_KUBECONTEXT") or None,
        namespace=namespace(flags),
        # Where releases are kept, chosen by HELM_DRIVER as with helm.
        storage_driver=os.environ.get("HELM_DRIVER") or None,
    )


def namespace(flags):
    return flags.get("--namespace") or os.environ.get("HELM_NAMESPACE") or "default"


def load_chart(ref, flags, workdir):
    """A chart from a local path, an HTTP repository (--repo) or an oci:// reference,
    without its crds/ directory when --skip-crds is given."""
    import helm_python as helm

    repo = flags.get("--repo")
    version = flags.get("--version")
    named = named_repository(ref, flags)
    if repo or named or ref.startswith("oci://"):
        dest = os.path.join(workdir, "pulled")
        os.makedirs(dest)
        login = {}
        if named:
            entry, ref = named
            repo = entry["url"]
            login = {"username": entry.get("username"), "password": entry.get("password")}
        helm.pull(ref, repo_url=repo, version=version, destination=dest, untar=True,
                  untar_dir=dest, **login)
        dirs = [d for d in os.listdir(dest) if os.path.isfile(os.path.join(dest, d, "Chart.yaml"))]
        if not dirs:
            raise CliError(f"failed to download {ref!r}")
        path = os.path.join(dest, dirs[0])
    elif os.path.exists(ref):
        path = ref
    else:
        raise CliError(f'path "{ref}" not found')
    if flags.get("--skip-crds") and os.path.isdir(path):
        copy = os.path.join(workdir, "nocrds")
        shutil.copytree(path, copy, ignore=lambda d, names: ["crds"] if d == path else [])
        path = copy
    return helm.Chart.load(path)


def repositories(flags):
    """The repositories of --repository-config, by name."""
    path = flags.get("--repository-config")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
    except OSError as e:
        raise CliError(f"open {path}: {e.strerror.lower()}") from e
    return {r["name"]: r for r in doc.get("repositories") or []}


def named_repository(ref, flags):
    """(repository entry, chart name) for a REPO/CHART reference to a configured
    repository whose index was cached by `repo update`, as helm requires."""
    name, slash, chart = ref.partition("/")
    entry = repositories(flags).get(name) if slash and not ref.startswith(".") else None
    if entry is None:
        return None
    cache = flags.get("--repository-cache", "")
    if not os.path.isfile(os.path.join(cache, f"{name}-index.yaml")):
        raise CliError(f"no cached repo found. (try 'helm repo update'): open "
                       f"{os.path.join(cache, name + '-index.yaml')}: no such file or directory")
    return entry, chart


def fetch(url, entry):
    """GET with the repository's basic login; helm's wording for a refusal."""
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if entry.get("username"):
        token = base64.b64encode(f"{entry['username']}:{entry.get('password', '')}".encode())
        request.add_header("Authorization", "Basic " + token.decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        raise CliError(f"failed to fetch {url} : {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise CliError(f"looks like {url!r} is not a valid chart repository or cannot "
                       f"be reached: {e.reason}") from e


def release_json(cfg, name, chart=True):
    """helm's release object as its JSON encoding prints it: `helm upgrade -o json` with
    the chart (metadata only here), `helm status -o json` without it (helm strips it).
    Fields helm tags `omitempty` are left out when empty, as Go's encoder does: a release
    without user-supplied values has no `config`."""
    summary = cfg.status(name)
    everything = cfg.get_all(name)
    meta = cfg.get_metadata(name)
    info = everything.get("info") or {}
    out = {
        "name": summary["name"],
        "info": {
            "first_deployed": info.get("first_deployed", summary.get("deployed_at")),
            "last_deployed": info.get("last_deployed", summary.get("deployed_at")),
            "deleted": info.get("deleted", ""),
            "description": info.get("description", ""),
            "status": summary["status"],
            "notes": info.get("notes", ""),
        },
    }
    if chart:
        out["chart"] = {"metadata": {
            "name": summary.get("chart_name") or meta.get("chart"),
            "version": summary.get("chart_version") or meta.get("version"),
            "appVersion": summary.get("app_version") or meta.get("appVersion"),
            "apiVersion": meta.get("apiVersion", "v2"),
        }}
    if everything.get("config"):
        out["config"] = everything["config"]
    if summary.get("manifest"):
        out["manifest"] = summary["manifest"]
    out["version"] = summary["revision"]
    out["namespace"] = summary["namespace"]
    return out


def go_field(obj, path):
    """`.A.B` of a Go struct given as its JSON: Go's field names are the JSON keys with a
    capital (`AppVersion` is `appVersion`, `APIVersion` is `apiVersion`); a
    field left out of the JSON (omitempty) is its zero value, printed as ""."""
    for field in path:
        key = "apiVersion" if field == "APIVersion" else field[:1].lower() + field[1:]
        obj = obj.get(key, "") if isinstance(obj, dict) else ""
    return obj


def go_template(text, data):
    """The part of Go's text/template that `helm get all --template` needs here: literal
    text and actions `{{.Release.FIELD...}}` or `{{printf "%q" .Release.FIELD...}}` (Go's
    %q quotes a printable string as JSON does). Anything else is refused, naming it."""
    out, pos, trim_next = [], 0, False
    for m in re.finditer(r"\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}", text):
        literal = text[pos:m.start()]
        literal = literal.lstrip() if trim_next else literal
        out.append(literal.rstrip() if m.group(1) else literal)
        pos, trim_next = m.end(), bool(m.group(3))
        action = m.group(2)
        quoted = re.fullmatch(r'printf\s+"%q"\s+(\.\S+)', action)
        ref = quoted.group(1) if quoted else action
        parts = ref.split(".")[1:]
        if not ref.startswith(".") or not parts or not all(p.isidentifier() for p in parts):
            raise CliError(f"template: _:1: this test helm cannot evaluate {{{{{action}}}}}")
        value = go_field(data.get(parts[0], {}), parts[1:])  # `.Release` is a map key
        if isinstance(value, (dict, list)):
            raise CliError(f"template: _:1: this test helm prints only scalars, not {ref}")
        text_value = "" if value is None else str(value)
        out.append(json.dumps(text_value, ensure_ascii=False) if quoted else text_value)
    rest = text[pos:]
    out.append(rest.lstrip() if trim_next else rest)
    return "".join(out)


def print_output(obj, flags, table):
    fmt = flags.get("--output", "table")
    if fmt == "json":
        print(json.dumps(obj))
    elif fmt == "yaml":
        print(yaml.safe_dump(obj, sort_keys=False), end="")
    elif fmt == "table":
        print(table)
    else:
        raise CliError(f'invalid argument "{fmt}" for "-o, --output" flag: invalid format type')


def release_table(r):
    return (
        f"NAME: {r['name']}\nLAST DEPLOYED: {r['info']['last_deployed']}\n"
        f"NAMESPACE: {r['namespace']}\nSTATUS: {r['info']['status']}\n"
        f"REVISION: {r['version']}\n"
    )


def wait_mode(flags):
    w = flags.get("--wait")
    if w is None or w == "false":
        return None
    return "watcher" if w is True or w == "true" else w


def cmd_version(pos, flags):
    import helm_python as helm

    v = helm.helm_sdk_version()
    if "--template" in flags:
        print(flags["--template"].replace("{{.Version}}", v).replace("{{ .Version }}", v))
    elif flags.get("--short"):
        print(f"{v}+helm.python.sdk.{helm.__version__}")
    else:
        print(f'version.BuildInfo{{Version:"{v}", GitCommit:"", GitTreeState:"", GoVersion:""}}')


def cmd_upgrade(pos, flags):
    import helm_python as helm

    if len(pos) != 2:
        raise CliError(f'"helm upgrade" requires 2 arguments\n\nUsage:  helm upgrade [RELEASE] [CHART] [flags]')
    name, ref = pos
    if not flags.get("--install"):
        raise CliError("this test helm implements `upgrade` only with --install")
    helm.validate_release_name(name)
    cfg = config(flags)
    values = user_values(flags)
    timeout = go_duration_seconds(flags["--timeout"]) if "--timeout" in flags else None
    rollback = bool(flags.get("--atomic") or flags.get("--rollback-on-failure"))
    with tempfile.TemporaryDirectory() as work:
        chart = load_chart(ref, flags, work)
        try:
            current = cfg.status(name)
        except helm.HelmNotFoundError:
            current = None
        common = dict(namespace=namespace(flags), timeout=timeout, wait=wait_mode(flags),
                      rollback_on_failure=rollback)
        if current is None or current.get("status") == "uninstalled":
            cfg.install(chart, name, values, create_namespace=bool(flags.get("--create-namespace")),
                        **common)
        else:
            cfg.upgrade(chart, name, values, **common)
    r = release_json(cfg, name)
    print_output(r, flags, f'Release "{name}" has been upgraded. Happy Helming!\n' + release_table(r))


def cmd_template(pos, flags):
    if len(pos) != 2:
        raise CliError('"helm template" requires 2 arguments')
    name, ref = pos
    values = user_values(flags)
    with tempfile.TemporaryDirectory() as work:
        chart = load_chart(ref, flags, work)
        rendered = chart.render(values=values, name=name, namespace=namespace(flags),
                                is_install=True)
        out = []
        if flags.get("--include-crds"):
            for crd in chart.crds:
                out.append(f"---\n# Source: {crd['filename']}\n{crd['data'].strip()}\n")
        for path in sorted(rendered):
            body = rendered[path]
            if path.endswith("NOTES.txt") or not body.strip():
                continue
            out.append(f"---\n# Source: {path}\n{body.strip()}\n")
    sys.stdout.write("".join(out))


def cmd_status(pos, flags):
    if len(pos) != 1:
        raise CliError('"helm status" requires 1 argument')
    r = release_json(config(flags), pos[0], chart=False)
    print_output(r, flags, release_table(r))


def cmd_get(pos, flags):
    if len(pos) != 2 or pos[0] not in ("values", "manifest", "all"):
        raise CliError("this test helm implements `get values`, `get manifest` and `get all`")
    what, name = pos
    cfg = config(flags)
    if what == "manifest":
        # helm prints the manifest with Println: one newline more than it stores.
        print(cfg.status(name).get("manifest", ""))
        return
    if what == "all":
        if not flags.get("--template"):
            raise CliError("this test helm implements `get all` only with --template")
        sys.stdout.write(go_template(flags["--template"], {"Release": release_json(cfg, name)}))
        return
    values = cfg.get_values(name, all_values=bool(flags.get("--all")))
    fmt = flags.get("--output", "table")
    if fmt == "table":
        print("USER-SUPPLIED VALUES:" if not flags.get("--all") else "COMPUTED VALUES:")
        print(yaml.safe_dump(values, sort_keys=True) if values else "null")
    else:
        print_output(values or None, flags, "")


def cmd_uninstall(pos, flags):
    if len(pos) != 1:
        raise CliError('"helm uninstall" requires at least 1 argument')
    import helm_python as helm

    name = pos[0]
    timeout = go_duration_seconds(flags["--timeout"]) if "--timeout" in flags else None
    try:
        config(flags).uninstall(name, keep_history=bool(flags.get("--keep-history")),
                                timeout=timeout, wait=wait_mode(flags))
    except helm.HelmNotFoundError as e:
        raise CliError(f"uninstall: Release not loaded: {name}: release: not found") from e
    print(f'release "{name}" uninstalled')


def cmd_rollback(pos, flags):
    if len(pos) not in (1, 2):
        raise CliError('"helm rollback" requires 1 or 2 arguments')
    timeout = go_duration_seconds(flags["--timeout"]) if "--timeout" in flags else None
    version = int(pos[1]) if len(pos) == 2 else None
    config(flags).rollback(pos[0], version=version, timeout=timeout, wait=wait_mode(flags))
    print("Rollback was a success! Happy Helming!")


def cmd_package(pos, flags):
    import helm_python as helm

    if len(pos) != 1:
        raise CliError('"helm package" requires 1 argument')
    dest = flags.get("--destination", ".")
    path = helm.package(pos[0], destination=dest)
    print(f"Successfully packaged chart and saved it to: {path}")


def cmd_repo(pos, flags):
    import helm_python as helm

    if len(pos) == 2 and pos[0] == "index":
        helm.repo_index_generate(pos[1], base_url=flags.get("--url"))
        return
    if len(pos) == 2 and pos[0] == "update":
        entry = repositories(flags).get(pos[1])
        if entry is None:
            raise CliError(f"no repositories found matching '{pos[1]}'.  Nothing will be updated")
        try:
            index = fetch(entry["url"].rstrip("/") + "/index.yaml", entry)
        except CliError as e:
            raise CliError(f"failed to update the following repositories: [{entry['url']}]: "
                           f"{e}") from e
        cache = flags.get("--repository-cache") or "."
        with open(os.path.join(cache, f"{pos[1]}-index.yaml"), "wb") as f:
            f.write(index)
        print(f"Successfully got an update from the \"{pos[1]}\" chart repository")
        return
    raise CliError("this test helm implements `repo index` and `repo update NAME` only")


COMMANDS = {
    "version": cmd_version,
    "upgrade": cmd_upgrade,
    "template": cmd_template,
    "status": cmd_status,
    "get": cmd_get,
    "uninstall": cmd_uninstall,
    "rollback": cmd_rollback,
    "package": cmd_package,
    "repo": cmd_repo,
}


def error_text(e):
    """helm's wording for the errors trustplane recognizes."""
    import helm_python as helm

    text = str(e)
    if isinstance(e, helm.HelmNotFoundError) and "not found" not in text:
        return "release: not found"
    if isinstance(e, helm.HelmNotFoundError):
        return "release: not found" if "release" in text and "chart" not in text else text
    return text


def main(argv):
    if not argv or argv[0] not in COMMANDS:
        got = argv[0] if argv else ""
        print(f'Error: unknown command "{got}" for "helm"', file=sys.stderr)
        return 1
    try:
        pos, flags = parse_args(argv[1:])
        COMMANDS[argv[0]](pos, flags)
    except CliError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - every SDK failure is a helm error
        import helm_python as helm

        if not isinstance(e, helm.HelmError):
            raise
        print(f"Error: {error_text(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
