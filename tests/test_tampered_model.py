"""A cached model.pt whose checksum was rewritten after its content was changed is rebuilt, not raised on
at every run."""

import pytest
import torch

from paperlib import cache, config, train


def tiny(**kw):
    prof = config.get_profile("smoke", epochs=1)
    return prof.train_config("resnet", **kw).replace(width=2, train_per_subclass=4, batch_size=32)


@pytest.mark.parametrize("tamper", ["shape", "key"])
def test_a_model_that_does_not_fit_is_retrained(tamper, tmp_path, one_thread):
    cfg = tiny(seed=21)
    first = train.train_model(cfg, cache_dir=tmp_path, progress=False)
    final = first.path / "model.pt"
    blob = cache.load(final)
    name = next(iter(blob["ema_state"]))
    if tamper == "shape":
        blob["ema_state"][name] = torch.zeros(3, 3, 3)
    else:
        del blob["ema_state"][name]
    cache.save(final, blob)  # content changed, checksum recomputed: the pair is "valid"
    assert cache.is_valid(final)
    epochs = []
    with pytest.warns(UserWarning, match=r"rebuilding a cached model: .*model\.pt: its checksum matches"):
        again = train.train_model(cfg, cache_dir=tmp_path, progress=False, on_epoch_end=lambda e, r: epochs.append(e))
    assert epochs == [1] and again.path == first.path
    loaded = train.train_model(cfg, cache_dir=tmp_path, progress=False)  # and now it loads
    for k, v in again.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[k], v, msg=k)
