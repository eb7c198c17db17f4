import sys
EDITS = [('''    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
''', '''    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

    def _get_train_description(self, current_epoch: int) -> str:
        # counted from 1, like the epoch lines, train_summary.json and metrics.csv (Lightning shows 0..max-1)
        description = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            description += f"/{self.trainer.max_epochs}"
        return f"{description:{len(self.validation_description)}}"  # padded: no flicker against "Validation"
''')]
def apply(text):
    for old, new in EDITS:
        n = text.count(old)
        if n != 1: sys.exit(f"edit not unique/found ({n}): {old[:80]!r}")
        text = text.replace(old, new)
    return text
if __name__ == "__main__":
    open(sys.argv[2], "w").write(apply(open(sys.argv[1]).read()))
