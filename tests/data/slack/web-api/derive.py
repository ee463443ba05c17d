#!/usr/bin/env python3
"""Derives web_methods.derived.json from Slack's official OpenAPI v2 spec.

Usage: python3 derive.py <path of slack_web_openapi_v2.json> > web_methods.derived.json

The spec is slackapi/slack-api-specs @ bc08db49625630e3585bf2f1322128ea04f2a7f3 :
web-api/slack_web_openapi_v2.json (MIT, see ../LICENSE.slack-api-specs.txt).
Keeps, for each Web API method the bot calls (and the views.* methods it may
call), only facts: the HTTP verbs, the content types it consumes and each
parameter's name, place and whether it is required; the token parameter is
dropped (the bot sends it as a bearer header). Output is byte-stable.
"""
import json
import sys

METHODS = [
    "apps.connections.open",
    "auth.test",
    "chat.getPermalink",
    "chat.postEphemeral",
    "chat.postMessage",
    "chat.update",
    "conversations.info",
    "conversations.open",
    "conversations.setTopic",
    "usergroups.list",
    "usergroups.users.list",
    "usergroups.users.update",
    "users.info",
    "users.lookupByEmail",
    "views.open",
    "views.publish",
    "views.update",
]


def main(path):
    with open(path, encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    out = {"source": "slackapi/slack-api-specs@bc08db49625630e3585bf2f1322128ea04f2a7f3:web-api/slack_web_openapi_v2.json", "methods": {}}
    for method in METHODS:
        path_item = spec["paths"].get("/" + method)
        if path_item is None:
            out["methods"][method] = None
            continue
        verbs = {}
        for verb, operation in sorted(path_item.items()):
            params = [
                {"name": p["name"], "in": p["in"], "required": bool(p.get("required", False))}
                for p in operation.get("parameters", [])
                if p["name"] != "token"
            ]
            verbs[verb.upper()] = {
                "consumes": operation.get("consumes", []),
                "parameters": sorted(params, key=lambda p: p["name"]),
            }
        out["methods"][method] = verbs
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
