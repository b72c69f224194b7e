"""The shipped alert rules: `promtool check rules`, `promtool test rules`, and every alert has a
unit test in which it fires and one in which it stays quiet (a new rule without tests fails)."""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "deploy", "prometheus", "sockdoctor-rules.yml")
TESTS = os.path.join(ROOT, "deploy", "prometheus", "sockdoctor-rules.test.yml")


def main() -> int:
    promtool = shutil.which("promtool")
    if promtool is None:
        print("FAIL: promtool not found (Debian package prometheus; scripts/setup.sh installs it)")
        return 1
    failed = 0
    for argv in ([promtool, "check", "rules", RULES], [promtool, "test", "rules", TESTS]):
        r = subprocess.run(argv, capture_output=True, text=True, cwd=os.path.dirname(TESTS))
        print(r.stdout + r.stderr, end="")
        if r.returncode != 0:
            print(f"FAIL: {' '.join(argv[1:3])} exited {r.returncode}")
            failed += 1
    alerts = re.findall(r"^\s*- alert:\s*(\S+)", open(RULES).read(), re.M)
    tests = open(TESTS).read()
    # Each alert_rule_test block: "alertname: X" followed by "exp_alerts: []" (quiet) or a list.
    blocks = re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*(\[\])?", tests)
    for a in alerts:
        quiet = any(name == a and empty for name, empty in blocks)
        fires = any(name == a and not empty for name, empty in blocks)
        if not (quiet and fires):
            print(f"FAIL: alert {a} needs a test where it fires and one where it stays quiet "
                  f"(fires: {fires}, quiet: {quiet})")
            failed += 1
    print(f"rules: {len(alerts)} alerts; {len(alerts) * 2 + 2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
