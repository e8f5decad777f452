"""Upload throughput: validates and creates N text tasks from CSV through the real
upload service, and prints rows per second.

Point it at a scratch database (it creates an organization, a user and sets there):
    createdb marketplace_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_bench DEBUG=1 \\
        .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_bench DEBUG=1 \\
        .venv/bin/python bench/upload.py --rows 20000
Images (ZIP uploads) are not measured yet: that upload path is not built.
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from marketplace.models import Membership, Organization, User  # noqa: E402
from tasks.models import TaskSet  # noqa: E402
from tasks.uploads import parse_task_file, upload_tasks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    user = User.objects.create(username=f"bench-{tag}")
    org = Organization.objects.create(name=f"Bench {tag}", slug=f"bench-{tag}", kind="requester")
    Membership.objects.create(user=user, organization=org, role="admin")
    lines = ["external_id,text,gold,gold_answer"]
    for i in range(args.rows):
        gold = i % 20 == 0
        flag, answer = ("true", "positive") if gold else ("", "")
        lines.append(f"t{i},Sentence number {i} to label,{flag},{answer}")
    data = ("\n".join(lines) + "\n").encode()

    print(
        f"database: {connection.vendor}; rows per file: {args.rows}; file: {len(data) / 1e6:.1f} MB"
    )
    for run in range(1, args.repeat + 1):
        task_set = TaskSet.objects.create(
            organization=org,
            created_by=user,
            title=f"bench {run}",
            kind="label",
            label_options=["positive", "negative"],
            reward_minor=5,
        )
        started = time.perf_counter()
        parse_task_file(task_set, data, filename="bench.csv")
        validated = time.perf_counter()
        upload_tasks(task_set=task_set, actor=user, data=data, filename="bench.csv")
        finished = time.perf_counter()
        print(
            f"run {run}: validate only {args.rows / (validated - started):,.0f} rows/s; "
            f"validate + create {args.rows / (finished - validated):,.0f} rows/s "
            f"({finished - validated:.2f} s)"
        )


if __name__ == "__main__":
    main()
