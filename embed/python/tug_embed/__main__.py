"""python -m tug_embed push LAYOUT IMAGE | pull IMAGE LAYOUT [--user U --password P]
[--ca PEM] [--plain-http] [--name NAME] [--platform OS/ARCH] [--jobs N] [--retries N]

Pushes an OCI layout to a registry, or pulls an image into one, with tug-core's
WebAssembly component doing every protocol decision; progress events go to standard
error as JSON lines, the report to standard output."""

import argparse
import json
import sys

from .core import Core, Failed
from .drive import Layout, drive
from .transport import Transport


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tug_embed", description=__doc__.split("\n\n")[1])
    parser.add_argument("command", choices=["push", "pull"])
    parser.add_argument("places", nargs=2, metavar="PLACE")
    parser.add_argument("--ca", help="PEM file of the CA to trust for HTTPS")
    parser.add_argument("--plain-http", action="store_true", default=None)
    for flag in ("--user", "--password", "--name", "--platform"):  # --name: push, --platform: pull
        parser.add_argument(flag)
    for flag in ("--jobs", "--retries"):
        parser.add_argument(flag, type=int)
    args = parser.parse_args(argv)
    options = {"plainHttp": args.plain_http, "username": args.user, "password": args.password,
               "jobs": args.jobs, "retries": args.retries, "userAgent": "tug-embed-python"}
    core = Core()
    push = args.command == "push"
    layout, image = args.places if push else reversed(args.places)
    extra = {"name": args.name} if push else {"platform": args.platform}
    try:
        op = core.start(args.command, image, dict(options, **extra))
        report = drive(core, op, Transport(layout, args.ca), Layout(layout))
    except Failed as e:
        print(f"tug_embed: {args.command} failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
