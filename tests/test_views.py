import torch
from torchvision.transforms.v2 import functional as TF

from semready.config import ViewsConfig
from semready.teacher.views import (
    color_jitter,
    perturb,
    prepare_eval,
    random_grayscale,
    random_resized_crop_flip,
    to_float,
    two_views,
)

IMAGES = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_crop_resamples_inside_the_image():
    # A constant image stays constant (no zero padding leaks in) and crops of a ramp stay within its range.
    const = torch.full((4, 3, 32, 32), 0.3)
    out = random_resized_crop_flip(const, 0.2, 0.5, torch.Generator().manual_seed(0))
    assert torch.allclose(out, const, atol=1e-6)
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(8, 3, 32, 32).contiguous()
    out = random_resized_crop_flip(ramp, 0.2, 0.0, torch.Generator().manual_seed(0))
    span = out[:, 0, 16].amax(dim=1) - out[:, 0, 16].amin(dim=1)
    assert (span < 1.0).all() and (span > 0.2).all()  # zoomed in, never beyond the source
    assert (out[:, 0, 16, 1:] >= out[:, 0, 16, :-1] - 1e-6).all()  # no flip: still increasing


def test_flip_matches_torchvision():
    x = to_float(IMAGES)
    cfg_out = random_resized_crop_flip(x, scale_min=1.0, flip_p=1.0, gen=torch.Generator().manual_seed(0))
    same = random_resized_crop_flip(x, scale_min=1.0, flip_p=0.0, gen=torch.Generator().manual_seed(0))
    assert torch.allclose(cfg_out, TF.horizontal_flip(same), atol=1e-5)


def test_grayscale_uses_torchvision_kernel_per_item():
    x = to_float(IMAGES)
    all_gray = random_grayscale(x, 1.0)
    assert torch.allclose(all_gray, TF.rgb_to_grayscale(x, num_output_channels=3))
    assert torch.equal(random_grayscale(x, 0.0), x)


def test_jitter_off_is_identity_and_on_changes_items_independently():
    x = to_float(IMAGES)
    off = ViewsConfig(jitter_p=0.0)
    assert torch.allclose(color_jitter(x.clone(), off), x, atol=1e-5)
    on = ViewsConfig(jitter_p=1.0)
    y = color_jitter(x.clone(), on, torch.Generator().manual_seed(1))
    ratios = (y.mean(dim=(1, 2, 3)) / x.mean(dim=(1, 2, 3)))
    assert ratios.std() > 0.01  # per-item parameters, not one draw for the whole batch
    assert y.min() >= 0 and y.max() <= 1


def test_views_are_per_item_seeded_and_distinct():
    cfg = ViewsConfig()
    a1, b1 = two_views(IMAGES, cfg, torch.Generator().manual_seed(3))
    a2, b2 = two_views(IMAGES, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert not torch.allclose(a1, b1)
    assert a1.shape == (16, 3, 32, 32) and a1.dtype == torch.float32


def test_eval_input_is_deterministic_standardisation():
    x = prepare_eval(IMAGES)
    assert torch.allclose(x, (IMAGES.float() / 255 - 0.5) / 0.25)
    plain = ViewsConfig(crop_scale_min=1.0, flip_p=0, jitter_p=0, grayscale_p=0)
    assert perturb(IMAGES, plain, torch.Generator().manual_seed(0)).shape == x.shape


def test_a_share_of_the_batch_is_perturbed_as_within_the_whole_batch():
    # Under DDP each process perturbs only its slice of the global batch: drawing the whole batch's parameters
    # makes the slices together equal to the whole batch's views, and keeps every rank's generator in step.
    cfg = ViewsConfig()
    whole_gen = torch.Generator().manual_seed(5)
    whole = two_views(IMAGES, cfg, whole_gen)
    gens = [torch.Generator().manual_seed(5) for _ in range(4)]
    shares = [two_views(IMAGES[r * 4:(r + 1) * 4], cfg, gens[r], share=(r * 4, 16)) for r in range(4)]
    for v in (0, 1):
        torch.testing.assert_close(torch.cat([s[v] for s in shares]), whole[v], rtol=1e-6, atol=1e-6)
    for g in gens:  # every "rank" drew what the whole batch draws
        assert torch.equal(g.get_state(), whole_gen.get_state())
    # without the share, a slice draws its own (different) parameters
    alone = two_views(IMAGES[4:8], cfg, torch.Generator().manual_seed(5))
    assert not torch.allclose(alone[0], whole[0][4:8])
