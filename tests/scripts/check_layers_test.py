#!/usr/bin/env python3
"""Tests of scripts/check_layers.py: a fixture tree with wrong arrows fails, naming each one and
the rule it breaks; a tree with every allowed arrow (serve included) passes; so does real src/."""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CHECKER = os.path.join(REPO, "scripts", "check_layers.py")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "layers")

UP = "arrows point down: core <- collect <- analyze <- store <- render <- {cli, lab, serve, top, trace, kill}"
SIDEWAYS = "composition roots stand side by side; only cli may use the others"

# Every wrong arrow in the bad tree, and the rule each breaks; nothing else may be reported.
EXPECTED_BAD = {
    "src/CMakeLists.txt:2": f"sockdoctor_collect links sockdoctor_analyze: collect may use only "
                            f"core ({UP})",
    "src/CMakeLists.txt:4": f"sockdoctor_render links sockdoctor_cli: render may use only core, "
                            f"collect, analyze, store ({UP})",
    "src/CMakeLists.txt:5": f"sockdoctor_lab links sockdoctor_serve: {SIDEWAYS}",
    "src/analyze/model.hpp:4": f"analyze includes render/table.hpp: analyze may use only core, "
                               f"collect ({UP})",
    "src/collect/sampler.hpp:4": f"collect includes analyze/model.hpp: collect may use only core "
                                 f"({UP})",
    "src/collect/bpf/owners.bpf.c:2": f"collect includes ../../render/table.hpp: collect may use "
                                      f"only core ({UP})",
    "src/core/socket.hpp:4": "core includes collect/sampler.hpp: core includes nothing of ours",
    "src/lab/run.hpp:4": f"lab includes cli/context.hpp: {SIDEWAYS}",
    "src/render/table.hpp:4": f"render includes ../cli/context.hpp: render may use only core, "
                              f"collect, analyze, store ({UP})",
    "src/render/table.hpp:6": f"render includes cli/context.hpp: render may use only core, "
                              f"collect, analyze, store ({UP})",
    "src/CMakeLists.txt:7": f"sockdoctor_store links sockdoctor_render: store may use only core, "
                            f"collect, analyze ({UP})",
    "src/store/history.hpp:4": f"store includes render/table.hpp: store may use only core, "
                               f"collect, analyze ({UP})",
    "src/serve/exporter.hpp:4": f"serve includes lab/run.hpp: {SIDEWAYS}",
    "src/util/strings.hpp:1": "src/util is not a room of the layer rule (core <- collect <- "
                              "analyze <- store <- render <- {cli, lab, serve, top, trace, "
                              "kill}); add it to "
                              "scripts/check_layers.py and README's Layout",
}


def check(root, cwd=None):
    return subprocess.run([sys.executable, CHECKER, root], cwd=cwd or root, capture_output=True,
                          text=True, timeout=60)


class CheckLayers(unittest.TestCase):
    def test_wrong_arrows_fail_each_named_with_its_rule(self):
        r = check(os.path.join(FIXTURES, "bad"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[-1], f"layers: {len(EXPECTED_BAD)} violation(s) of core <- collect "
                                    "<- analyze <- store <- render <- {cli, lab, serve, top, trace, "
                                    "kill}")
        found = {}
        for line in lines[:-1]:
            where, _, text = line.partition(": ")
            found[where] = text
        self.assertEqual(found, EXPECTED_BAD)

    def test_every_allowed_arrow_passes_serve_included(self):
        r = check(os.path.join(FIXTURES, "good"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "layers: 20 includes and 11 links of ours point down (core <- "
                                   "collect <- analyze <- store <- render <- {cli, lab, serve, top, "
                                   "trace, kill})\n")

    def test_the_real_tree_passes(self):
        r = check(REPO)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("point down", r.stdout)

    def test_a_missing_tree_is_a_usage_error(self):
        r = check(os.path.join(FIXTURES, "absent"), cwd=FIXTURES)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such directory", r.stderr)


if __name__ == "__main__":
    unittest.main()
