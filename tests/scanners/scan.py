"""The field's scanners over the rendered templates, run by scripts/test with the project venv's Python.

Usage: scan.py CHECKOV SKIPS EXCEPTIONS RENDERED RESOLVED

- CHECKOV: the checkov executable (the venv's, pinned by scripts/test).
- SKIPS: tests/scanners/checkov-skips.yaml, the checks skipped, each with its reason and, optionally, the only
  rendered envs it is skipped for.
- EXCEPTIONS: tests/scanners/parliament-exceptions.yaml, the parliament findings accepted, each with its reason and
  the documents it applies to.
- RENDERED: a directory of `<name>/template.yaml`, as deployed (`provision render --out`).
- RESOLVED: a directory of `<name>/template.yaml` and `<name>/policies/*.json` for the same names
  (`provision render --out --resolve`).

checkov runs once over every RENDERED template; a failed check passes only when the skip list names its id (for
that env, where the entry lists envs). A skip that nothing needs any more is an error too, so the list stays
true. parliament (with its community auditors) then reads every IAM policy document of every RESOLVED render: each
file in policies/ and each document embedded in the resolved template (role trust, bucket, queue, topic and key
policies), deduplicated; a finding of severity LOW or above fails unless the exception list accepts it, and an
exception nothing needs fails too. Resolved documents must hold no CloudFormation function.

Exit 0 when all of that holds, 1 otherwise; the summary lines go to stderr.
"""

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import parliament
import yaml
from parliament import analyze_policy_string, enhance_finding, override_config
from parliament.cli import is_finding_filtered

# Properties that hold an IAM policy document, by resource type, with the name `render --out` gives such a document
# (`{}`: the logical id): what parliament reads besides policies/*.json, named so that exceptions match both.
POLICY_PROPERTIES = {
    "AWS::IAM::Role": [("AssumeRolePolicyDocument", "trust-{}.json")],
    "AWS::IAM::ManagedPolicy": [("PolicyDocument", "access-{}.json")],
    "AWS::IAM::Policy": [("PolicyDocument", "access-{}.json")],
    "AWS::S3::BucketPolicy": [("PolicyDocument", "bucket-policy.json")],
    "AWS::SQS::QueuePolicy": [("PolicyDocument", "queue-{}.json")],
    "AWS::SNS::TopicPolicy": [("PolicyDocument", "topic-{}.json")],
    "AWS::KMS::Key": [("KeyPolicy", "key-policy.json")],
}
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_[0-9]+$")


def log(text):
    print(text, file=sys.stderr)


def load_skips(path):
    """The skip list: {id: (reason, envs or None)}; a malformed entry is an error."""
    entries = yaml.safe_load(Path(path).read_text()) or []
    skips, problems = {}, []
    for i, entry in enumerate(entries):
        check, reason, envs = entry.get("id"), entry.get("reason"), entry.get("envs")
        if not isinstance(check, str) or not CHECK_ID.match(check):
            problems.append(f"entry {i}: `id` must be a checkov check id such as CKV_AWS_18, not {check!r}")
        elif check in skips:
            problems.append(f"entry {i}: {check} is listed twice")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            problems.append(f"entry {i} ({check}): `reason` must be one line saying why the check does not apply")
        if envs is not None and not (isinstance(envs, list) and envs and all(isinstance(e, str) for e in envs)):
            problems.append(f"entry {i} ({check}): `envs`, when given, lists the rendered envs it applies to")
        unknown = set(entry) - {"id", "reason", "envs"}
        if unknown:
            problems.append(f"entry {i} ({check}): unknown keys {sorted(unknown)}")
        skips[check] = (reason, envs)
    if problems:
        raise SystemExit("\n".join([f"{path}:"] + [f"  {p}" for p in problems]))
    return skips


def load_exceptions(path):
    """The parliament exceptions: a list of (issue, document globs, detail or None); a malformed entry is an error."""
    entries = yaml.safe_load(Path(path).read_text()) or []
    exceptions, problems = [], []
    for i, entry in enumerate(entries):
        issue, documents, detail, reason = (entry.get(k) for k in ("issue", "documents", "detail", "reason"))
        if not isinstance(issue, str) or not re.match(r"^[A-Z_]+$", issue):
            problems.append(f"entry {i}: `issue` must be a parliament finding such as RESOURCE_STAR, not {issue!r}")
        if not (isinstance(documents, list) and documents and all(isinstance(d, str) for d in documents)):
            problems.append(f"entry {i} ({issue}): `documents` lists the globs of the documents it applies to")
        if detail is not None and not isinstance(detail, str):
            problems.append(f"entry {i} ({issue}): `detail`, when given, is a text")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            problems.append(f"entry {i} ({issue}): `reason` must be one line saying why the finding does not apply")
        unknown = set(entry) - {"issue", "documents", "detail", "reason"}
        if unknown:
            problems.append(f"entry {i} ({issue}): unknown keys {sorted(unknown)}")
        exceptions.append((issue, documents, detail))
    if problems:
        raise SystemExit("\n".join([f"{path}:"] + [f"  {p}" for p in problems]))
    return exceptions


def run_checkov(checkov, templates):
    """checkov's JSON report over `templates` (one run: its start-up costs more than a template)."""
    command = [checkov, "--framework", "cloudformation", "--skip-download", "--output", "json", "--compact"]
    for template in templates:
        command += ["--file", str(template)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"checkov printed no report (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    reports = report if isinstance(report, list) else [report]
    report = next((r for r in reports if r.get("check_type") == "cloudformation"), None)
    if report is None:
        raise SystemExit(f"checkov scanned no CloudFormation template:\n{run.stdout}\n{run.stderr}")
    summary = report["summary"]
    if summary.get("parsing_errors"):
        raise SystemExit(f"checkov could not parse {summary['parsing_errors']} template(s):\n{run.stderr}")
    return report


def checkov_step(checkov, skips, rendered):
    templates = sorted(rendered.glob("*/template.yaml"))
    if not templates:
        raise SystemExit(f"no template under {rendered}")
    report = run_checkov(checkov, templates)
    failed, used = [], set()
    for check in report["results"]["failed_checks"]:
        env = Path(check["file_abs_path"]).parent.name
        check_id = check["check_id"]
        reason, envs = skips.get(check_id, (None, None))
        if reason is not None and (envs is None or env in envs):
            used.add((check_id, env if envs is not None else None))
            continue
        lines = "-".join(str(n) for n in check.get("file_line_range") or [])
        failed.append(f"{env}/template.yaml:{lines}: {check_id} {check['check_name']} ({check['resource']})")
    stale = []
    for check_id, (_, envs) in sorted(skips.items()):
        for env in envs or [None]:
            if (check_id, env) not in used:
                where = f" for {env}" if env else ""
                stale.append(f"{check_id}{where}: skipped, but no rendered template fails it; remove it from the list")
    summary = report["summary"]
    skipped = len(report["results"]["failed_checks"]) - len(failed)
    for line in failed:
        log(f"checkov: FAILED {line}")
    for line in stale:
        log(f"checkov: stale skip {line}")
    log(
        f"checkov {summary.get('checkov_version')}: {len(templates)} templates, {summary['resource_count']} resources, "
        f"{summary['passed']} passed, {len(failed)} failed, {skipped} skipped by the list "
        f"({', '.join(sorted({c for c, _ in used})) or 'none'})"
    )
    return not failed and not stale


def functions_left(value, at):
    """Where a resolved document still holds a CloudFormation function."""
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            if key == "Ref" or key.startswith("Fn::"):
                return [f"{at}.{key}"]
        return [p for k, v in value.items() for p in functions_left(v, f"{at}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in functions_left(v, f"{at}[{i}]")]
    return []


def policy_documents(resolved):
    """Every policy document of every resolved render: {canonical JSON: (document name, where it was first found)}."""
    documents, problems = {}, []
    for render in sorted(p for p in resolved.iterdir() if p.is_dir()):
        template_path = render / "template.yaml"
        template = yaml.safe_load(template_path.read_text())
        problems += [f"{template_path}: {p}" for p in functions_left(template, "template")]
        files = sorted((render / "policies").glob("*.json"))
        if not files:
            problems.append(f"{render}/policies: no policy document")
        for path in files:
            document = json.loads(path.read_text())
            problems += [f"{path}: {p}" for p in functions_left(document, "document")]
            documents.setdefault(json.dumps(document, sort_keys=True), (path.name, str(path)))
        for logical_id, resource in (template.get("Resources") or {}).items():
            for key, name in POLICY_PROPERTIES.get(resource.get("Type"), []):
                document = (resource.get("Properties") or {}).get(key)
                if document is not None:
                    where = f"{template_path} {logical_id}.{key}"
                    documents.setdefault(json.dumps(document, sort_keys=True), (name.format(logical_id), where))
    return documents, problems


def parliament_step(exceptions, resolved):
    documents, problems = policy_documents(resolved)
    # The community auditors' findings and severities, as `parliament --include-community-auditors` loads them.
    override_config(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")
    findings, accepted, used = set(), set(), set()
    for text, (name, where) in documents.items():
        policy = analyze_policy_string(text, where, include_community_auditors=True)
        for finding in policy.findings:
            finding = enhance_finding(finding)
            if is_finding_filtered(finding, "LOW"):
                continue
            detail = str(finding.detail)
            matches = [
                i
                for i, (issue, globs, needle) in enumerate(exceptions)
                if issue == finding.issue
                and any(fnmatch.fnmatch(name, g) for g in globs)
                and (needle is None or needle in detail)
            ]
            line = f"{where}: {finding.severity} {finding.issue}: {finding.title}: {detail}"
            if matches:
                used.update(matches)
                accepted.add(line)
            else:
                findings.add(line)
    stale = [f"{issue} on {globs}" for i, (issue, globs, _) in enumerate(exceptions) if i not in used]
    for line in problems:
        log(f"resolved: {line}")
    for line in sorted(findings):
        log(f"parliament: {line}")
    for line in stale:
        log(f"parliament: stale exception {line}: no document has that finding any more; remove it from the list")
    renders = sum(1 for p in resolved.iterdir() if p.is_dir())
    log(
        f"parliament: {len(documents)} distinct policy documents of {renders} resolved renders, "
        f"{len(findings)} findings, {len(accepted)} accepted by the exception list"
    )
    return not findings and not problems and not stale


def main(argv):
    if len(argv) != 6:
        raise SystemExit(__doc__)
    checkov, rendered, resolved = argv[1], Path(argv[4]), Path(argv[5])
    skips, exceptions = load_skips(argv[2]), load_exceptions(argv[3])
    ok = checkov_step(checkov, skips, rendered)
    ok = parliament_step(exceptions, resolved) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
