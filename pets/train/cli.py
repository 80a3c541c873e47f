"""`pets train`, `pets data` and `pets zoo`: their options and what they print."""
from __future__ import annotations

import argparse
from pathlib import Path

from pets.dtypes import CHOICES as DTYPE_CHOICES


def _train(args: argparse.Namespace) -> int:
    from pets.train.api import TrainConfig, train

    cfg = TrainConfig(pet=args.pet, data=args.data, name=args.name, backbone=args.backbone,
                      epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                      max_len=args.max_len, seed=args.seed, max_train=args.max_train,
                      max_eval=args.max_eval, dtype=args.dtype, rank=args.rank,
                      bottleneck=args.bottleneck, density=args.density,
                      targets=tuple(args.targets.split(",")) if args.targets else None)
    out = Path(args.out) if args.out else Path("out/tasks") / args.name
    result = train(cfg, out=out, on_epoch=lambda e: print(
        f"epoch {e.epoch}: train loss {e.train_loss:.4f}, dev accuracy {e.dev_accuracy:.4f} "
        f"({e.seconds:.0f} s)", flush=True))
    m = result.metrics
    print(f"{m.name}: {m.pet} on {m.data} ({m.sizes['train']} train rows, labels {m.labels})\n"
          f"  test accuracy {m.test_accuracy:.4f} at the end of training, "
          f"{m.served_test_accuracy:.4f} served by the engine (fp32, same predictions on "
          f"{m.served_agreement:.1%} of rows)\n"
          f"  {m.task_params:,} stored numbers ({m.file_bytes / 2**20:.2f} MiB), "
          f"{m.trainable_params:,} trained, {m.train_seconds:.0f} s\n  wrote {result.folder}")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from pets.train.data import vader

    path = vader.fetch(Path(args.dir) if args.dir else None)
    print(f"VADER corpus ({vader.CITATION}) in {path}")
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from pets.train.data import DATASETS, split

    for name in DATASETS:
        ds = DATASETS[name]()
        sizes = split(ds).sizes()
        print(f"{name:8s} {len(ds):6d} rows  {ds.class_counts()}  splits {sizes}  ({ds.source})")
    return 0


def _zoo(args: argparse.Namespace) -> int:
    from pets.train.zoo import build_zoo

    build_zoo(args.out, args.only.split(",") if args.only else None)
    return 0


def add_train_parsers(sub) -> None:
    from pets.train.data import dataset_names
    from pets.train.recipes import recipe_names

    tr = sub.add_parser("train", help="train a real PET task on a data set, write its task folder",
                        description="Train one task on the frozen shared backbone with its "
                        "method's recipe; write pet.json + pet.safetensors + metrics.json.")
    tr.add_argument("--pet", required=True, choices=recipe_names(),
                    help="the PET type (full: full fine-tuning, the accuracy reference)")
    tr.add_argument("--data", required=True,
                    help=f"a bundled data set ({', '.join(dataset_names())}) or a .csv/.jsonl "
                         "file of text,label rows")
    tr.add_argument("--name", required=True, help="the task's name")
    tr.add_argument("--backbone", default="minilm", help="minilm (default), a preset, or a "
                    "checkpoint folder")
    tr.add_argument("--epochs", type=int, default=None, help="default: the method's recipe")
    tr.add_argument("--lr", type=float, default=None, help="default: the method's recipe")
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--max-len", type=int, default=64, help="tokens per text (longer ones are "
                    "truncated)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--max-train", type=int, default=None, help="cap the training rows")
    tr.add_argument("--max-eval", type=int, default=None, help="cap the dev and test rows")
    tr.add_argument("--dtype", default="float32", choices=list(DTYPE_CHOICES),
                    help="compute dtype of training (bf16/fp16: autocast, weights stay fp32; "
                         "default float32: bf16 autocast trains no faster on CPUs without AMX)")
    tr.add_argument("--rank", type=int, default=None, help="LoRA rank")
    tr.add_argument("--bottleneck", type=int, default=None, help="adapter bottleneck")
    tr.add_argument("--density", type=float, default=None,
                    help="diff: share of entries kept; mask: share of weights zeroed")
    tr.add_argument("--targets", default=None,
                    help="comma-separated linears the PET changes (default: the method's own)")
    tr.add_argument("--out", default=None, help="task folder to write (default out/tasks/NAME)")
    tr.set_defaults(fn=_train)

    data = sub.add_parser("data", help="the bundled VADER corpus: fetch it, list its data sets")
    dsub = data.add_subparsers(dest="data_cmd", required=True)
    fetch = dsub.add_parser("fetch", help="download the vaderSentiment sdist from PyPI")
    fetch.add_argument("--dir", default=None, help="cache folder (default: $PETS_DATA_DIR, "
                       "else .cache/pets-data in a source checkout, else ~/.cache/pets)")
    fetch.set_defaults(fn=_data_fetch)
    dsub.add_parser("list", help="the data sets, their sizes and classes").set_defaults(fn=_data_list)

    zoo = sub.add_parser("zoo", help="train the committed task zoo (data/tasks/)")
    zoo.add_argument("--out", default=None, help="folder (default data/tasks)")
    zoo.add_argument("--only", default=None, help="comma-separated zoo task names")
    zoo.set_defaults(fn=_zoo)
