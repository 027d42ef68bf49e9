"""The OFDM slot's 5G coding: one LDPC codeword where the slot fits one code block, 5G's code-block segmentation
(equal blocks, the fewest that fit) where it does not."""

from __future__ import annotations

import pytest
import torch

from mfcomm.evaluation.ofdm_coded import MAX_BLOCK_K, SlotCode, segmentation

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "data, bits, rate",
    [(864, 4, 0.5), (1008, 4, 0.5), (612 * 12, 4, 0.5), (3276 * 12, 4, 0.5), (3276 * 14, 6, 0.75), (4096, 8, 0.9)],
)
def test_segmentation_is_the_fewest_even_blocks_that_fit(data, bits, rate):
    """Against brute force: the least count that divides the data REs with at most 8448 information bits each."""
    blocks, n, k = segmentation(data, bits, rate)
    fits = [c for c in range(1, data + 1) if data % c == 0 and round(data // c * bits * rate) <= MAX_BLOCK_K]
    assert blocks == fits[0] and n == data // blocks * bits and k == round(n * rate)


def test_a_100_mhz_slot_is_twelve_code_blocks():
    """273 resource blocks at 30 kHz with Kronecker pilots: 78624 information bits, ten blocks at least, and
    39312 REs split evenly first into twelve."""
    assert segmentation(3276 * 12, 4, 0.5) == (12, 13104, 6552)


@pytest.mark.parametrize(
    "data, bits, rate, words",
    [(864, 4, 0.99, "rates from 1/5 to 0.95"), (864, 4, 0.1, "rates from 1/5"), (4001, 8, 0.9, "do not split")],
)
def test_segmentation_refuses_what_5g_cannot_code(data, bits, rate, words):
    with pytest.raises(ValueError, match=words):
        segmentation(data, bits, rate)


def test_slot_code_puts_one_5g_codeword_per_block_side_by_side():
    code = SlotCode(612 * 12, 4, 0.5)
    info = torch.randint(0, 2, (3, code.k), generator=torch.Generator().manual_seed(0)).float()
    coded = code.encoder(info)
    assert code.blocks == 2 and coded.shape == (3, code.n) and code.k == 2 * code.block.k
    kb, nb = code.block.k, code.block.n
    assert torch.equal(coded[:, nb:], code.block.encoder(info[:, kb:]))  # block 2: the second k bits' codeword
    llrs = 20.0 * (2.0 * coded - 1.0)  # noiseless logits, positive for a one (Sionna's convention)
    assert torch.equal(code.decoder(llrs), info)
    llrs[:, nb:] = -llrs[:, nb:]  # every bit of block 2 received inverted: block 1 still decodes
    decoded = code.decoder(llrs)
    assert torch.equal(decoded[:, :kb], info[:, :kb]) and not torch.equal(decoded[:, kb:], info[:, kb:])
