"""Upload throughput: validates and creates N text tasks from CSV through the real
upload service, and prints rows per second.

Point it at a scratch database (it creates an organization, a user and sets there):
    createdb marketplace_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_bench DEBUG=1 \\
        .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_bench DEBUG=1 \\
        .venv/bin/python bench/upload.py --rows 20000 --images 2000
Images go into a temporary MEDIA_ROOT that is removed afterwards.
"""

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
import zipfile
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
    parser.add_argument("--images", type=int, default=0, help="also upload a ZIP of N photos")
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

    if args.images:
        bench_images(org, user, args.images)


def bench_images(org, user, count: int) -> None:
    from django.test import override_settings
    from PIL import Image

    # Photo-like: a gradient with grain (pure noise would be unrealistically large).
    gradient = Image.linear_gradient("L").resize((1600, 1200))
    base = Image.blend(gradient, Image.effect_noise((1600, 1200), 25), 0.3).convert("RGB")
    buffer = io.BytesIO()
    base.save(buffer, "JPEG", quality=85)
    photo = buffer.getvalue()
    archive_buffer = io.BytesIO()
    with zipfile.ZipFile(archive_buffer, "w") as archive:
        manifest = ["external_id,image"] + [f"i{i},img/{i}.jpg" for i in range(count)]
        archive.writestr("manifest.csv", "\n".join(manifest) + "\n")
        for i in range(count):
            archive.writestr(f"img/{i}.jpg", photo)
    data = archive_buffer.getvalue()
    task_set = TaskSet.objects.create(
        organization=org,
        created_by=user,
        title="bench images",
        kind="transcription",
        reward_minor=8,
    )
    with (
        tempfile.TemporaryDirectory() as media,
        override_settings(MEDIA_ROOT=media, TASK_UPLOAD_MAX_BYTES=len(data) + 1),
    ):
        started = time.perf_counter()
        upload_tasks(task_set=task_set, actor=user, data=data, filename="bench.zip")
        elapsed = time.perf_counter() - started
        sizes = [p.stat().st_size for p in Path(media, "tasks").glob("*.webp")]
    print(
        f"images: {count} photos of 1600x1200 ({len(photo) / 1000:.0f} KB each) in "
        f"{elapsed:.1f} s = {count / elapsed:,.1f} images/s; derivative median "
        f"{sorted(sizes)[len(sizes) // 2] / 1000:.1f} KB, max {max(sizes) / 1000:.1f} KB"
    )


if __name__ == "__main__":
    main()
