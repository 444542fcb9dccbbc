import pytest
import torch

from groupvit_d2.modeling.core import finalize_logits, sliding_window_inference, window_grid

# 5x7 image, crop 4, stride 2: h_grids = (5 - 4 + 1) // 2 + 1 = 2, w_grids = (7 - 4 + 1) // 2 + 1 = 3;
# the last row and column of windows are pushed back inside the image.
WINDOWS_5x7 = [(0, 4, 0, 4), (0, 4, 2, 6), (0, 4, 3, 7), (1, 5, 0, 4), (1, 5, 2, 6), (1, 5, 3, 7)]
COUNT_5x7 = torch.tensor(
    [
        [1, 1, 2, 3, 2, 2, 1],
        [2, 2, 4, 6, 4, 4, 2],
        [2, 2, 4, 6, 4, 4, 2],
        [2, 2, 4, 6, 4, 4, 2],
        [1, 1, 2, 3, 2, 2, 1],
    ],
    dtype=torch.float64,
)
# Window k outputs the constant 2**k, so each sum says which windows covered the pixel.
SUM_5x7 = torch.tensor(
    [
        [1, 1, 3, 7, 6, 6, 4],
        [9, 9, 27, 63, 54, 54, 36],
        [9, 9, 27, 63, 54, 54, 36],
        [9, 9, 27, 63, 54, 54, 36],
        [8, 8, 24, 56, 48, 48, 32],
    ],
    dtype=torch.float64,
)


def _coordinate_image(batch, height, width):
    """Channel 0 holds 100 * y + x, so a crop's top-left value names its window."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    code = (100 * ys + xs).double()
    return (
        torch.stack([code, torch.zeros_like(code), torch.ones_like(code)]).expand(batch, -1, -1, -1).clone()
    )


def _window_value_fn(windows, calls=None):
    value_of = {100 * y1 + x1: 2.0**k for k, (y1, _, x1, _) in enumerate(windows)}

    def predict(crops):
        if calls is not None:
            calls.append(tuple(crops.shape))
        values = torch.tensor([value_of[int(c)] for c in crops[:, 0, 0, 0]], dtype=crops.dtype)
        return values.view(-1, 1, 1, 1).expand(-1, 2, crops.shape[2], crops.shape[3]).clone()

    return predict


def test_window_grid_matches_mmseg():
    assert window_grid(5, 7, 4, 2) == WINDOWS_5x7
    assert window_grid(5, 7, (4, 4), (2, 2)) == WINDOWS_5x7
    count = torch.zeros(5, 7, dtype=torch.float64)
    for y1, y2, x1, x2 in window_grid(5, 7, 4, 2):
        count[y1:y2, x1:x2] += 1
    assert torch.equal(count, COUNT_5x7)


def test_window_grid_rejects_bad_sizes():
    with pytest.raises(ValueError, match="stride"):
        window_grid(5, 7, 4, 0)
    with pytest.raises(ValueError, match="crop size"):
        window_grid(5, 7, (4, 4, 4), 2)


@pytest.mark.parametrize("batch_windows", [True, False])
def test_sum_divided_by_count(batch_windows):
    image = _coordinate_image(1, 5, 7)
    out = sliding_window_inference(image, 4, 2, _window_value_fn(WINDOWS_5x7), batch_windows=batch_windows)
    assert out.shape == (1, 2, 5, 7)
    torch.testing.assert_close(out[0, 0], SUM_5x7 / COUNT_5x7)
    torch.testing.assert_close(out[0, 1], SUM_5x7 / COUNT_5x7)


def test_identity_prediction_returns_the_image():
    image = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(sliding_window_inference(image, 4, 2, lambda crops: crops), image)


def test_image_smaller_than_window():
    # 3 rows < crop 4: every window spans all rows; columns: (5 - 4 + 1) // 2 + 1 = 2 windows.
    assert window_grid(3, 5, 4, 2) == [(0, 3, 0, 4), (0, 3, 1, 5)]
    assert window_grid(3, 3, 4, 2) == [(0, 3, 0, 3)]
    calls = []
    image = _coordinate_image(1, 3, 3)
    out = sliding_window_inference(image, 4, 2, _window_value_fn([(0, 3, 0, 3)], calls))
    assert calls == [(1, 3, 3, 3)]
    torch.testing.assert_close(out, torch.ones(1, 2, 3, 3, dtype=torch.float64))


@pytest.mark.parametrize("max_windows", [1, 3, 4, 16])
def test_batched_and_unbatched_windows_agree(max_windows):
    torch.manual_seed(0)
    image = torch.randn(2, 3, 9, 11)
    weight = torch.randn(4, 3, 3, 3)

    def predict(crops):
        calls.append(crops.shape[0])
        # Depends on the whole window, so each window's output differs.
        feats = torch.nn.functional.conv2d(crops, weight, padding=1)
        return torch.tanh(feats - feats.mean(dim=(2, 3), keepdim=True))

    calls = []
    single = sliding_window_inference(image, (4, 5), (2, 3), predict, batch_windows=False)
    assert set(calls) == {1} and len(calls) == 2 * len(window_grid(9, 11, (4, 5), (2, 3)))
    calls = []
    batched = sliding_window_inference(
        image, (4, 5), (2, 3), predict, batch_windows=True, max_windows_per_batch=max_windows
    )
    assert max(calls) <= max_windows and sum(calls) == 2 * len(window_grid(9, 11, (4, 5), (2, 3)))
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)


def test_uncovered_pixels_and_bad_outputs_raise():
    image = torch.rand(1, 3, 10, 10)
    # Crop 2 with stride 5 leaves rows 2..4 uncovered.
    with pytest.raises(ValueError, match="uncovered"):
        sliding_window_inference(image, 2, 5, lambda crops: crops)
    with pytest.raises(ValueError, match="predict_fn returned"):
        sliding_window_inference(image, 4, 2, lambda crops: crops[:, :, :2])


def test_finalize_logits_upsample_then_softmax():
    # 2 classes on a 1x2 map upsampled to 1x4: class 0 (1, 0.75, 0.25, 0), class 1 (0, 0.25, 0.75, 1).
    summed = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]], dtype=torch.float64)
    probs = finalize_logits(summed, (1, 4))
    assert probs.shape == (1, 2, 1, 4)
    # Pixel 1: softmax(0.75, 0.25) = (sigmoid(0.5), sigmoid(-0.5)).
    assert probs[0, 0, 0, 1].item() == pytest.approx(0.6224593312)
    assert probs[0, 1, 0, 1].item() == pytest.approx(0.3775406688)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(1, 1, 4, dtype=torch.float64))
    assert probs.argmax(dim=1).flatten().tolist() == [0, 0, 1, 1]


def test_finalize_logits_same_size_is_softmax_only():
    # Logits (0, ln 3) -> probabilities (1/4, 3/4).
    summed = torch.tensor([0.0, 1.0986122887]).view(1, 2, 1, 1)
    probs = finalize_logits(summed, (1, 1))
    torch.testing.assert_close(probs.flatten(), torch.tensor([0.25, 0.75]))
