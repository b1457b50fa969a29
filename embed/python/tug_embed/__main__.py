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
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--ca", help="PEM file of the CA to trust for HTTPS")
    parser.add_argument("--plain-http", action="store_true", default=None)
    parser.add_argument("--name", help="push: which image of the layout")
    parser.add_argument("--platform", help="pull: os/arch (default linux/amd64)")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--retries", type=int)
    args = parser.parse_args(argv)
    options = {"plainHttp": args.plain_http, "username": args.user, "password": args.password,
               "jobs": args.jobs, "retries": args.retries, "userAgent": "tug-embed-python"}
    core = Core()
    try:
        if args.command == "push":
            layout, image = args.places
            op = core.push(image, dict(options, name=args.name))
        else:
            image, layout = args.places
            op = core.pull(image, dict(options, platform=args.platform))
        report = drive(core, op, Transport(layout, args.ca), Layout(layout))
    except Failed as e:
        print(f"tug_embed: {args.command} failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
