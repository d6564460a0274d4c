import itertools

import numpy as np
import pytest
import torch

from textclf.data.batching import BucketBatchSampler, TokenIdsDataset, collate_batch
from textclf.errors import TextclfError

SEQUENCES = [[5, 6, 7], [8], [9, 10], [11, 12, 13, 14]]


def test_from_lists_round_trip():
    dataset = TokenIdsDataset.from_lists(SEQUENCES, targets=[0, 1, 1, 0])
    assert len(dataset) == 4
    assert dataset.lengths.tolist() == [3, 1, 2, 4]
    assert dataset.offsets.tolist() == [0, 3, 4, 6, 10]
    for i, sequence in enumerate(SEQUENCES):
        assert dataset.ids[dataset.offsets[i] : dataset.offsets[i + 1]].tolist() == sequence


def test_getitems_pads_with_zero_and_keeps_lengths_labels_and_index():
    dataset = TokenIdsDataset.from_lists(SEQUENCES, targets=[0, 1, 1, 0])
    batch = dataset.__getitems__([3, 1, 0])
    assert batch["token_ids"].dtype == torch.int64
    assert batch["token_ids"].tolist() == [[11, 12, 13, 14], [8, 0, 0, 0], [5, 6, 7, 0]]
    assert batch["lengths"].tolist() == [4, 1, 3]
    assert batch["targets"].tolist() == [0, 1, 0]
    assert batch["index"].tolist() == [3, 1, 0]
    assert collate_batch(batch) is batch


def test_getitem_is_a_batch_of_one_and_unlabelled_has_no_labels():
    dataset = TokenIdsDataset.from_lists(SEQUENCES)
    item = dataset[2]
    assert item["token_ids"].tolist() == [[9, 10]]
    assert "labels" not in item


def test_int32_flat_ids_with_offsets_from_a_cache():
    ids = np.array([1, 2, 3, 4, 5, 6], dtype=np.int32)
    offsets = np.array([0, 2, 6], dtype=np.int64)
    dataset = TokenIdsDataset(ids, offsets, np.array([1, 0]))
    batch = dataset.__getitems__([0, 1])
    assert batch["token_ids"].dtype == torch.int64
    assert batch["token_ids"].tolist() == [[1, 2, 0, 0], [3, 4, 5, 6]]


def test_dataloader_with_the_bucket_sampler_yields_padded_batches():
    lengths = [1, 5, 2, 7, 3]
    sequences = [list(range(1, n + 1)) for n in lengths]
    dataset = TokenIdsDataset.from_lists(sequences, targets=[0, 1, 0, 1, 0])
    sampler = BucketBatchSampler(dataset.lengths, batch_size=2, shuffle=False)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_batch)
    seen = []
    for batch in loader:
        for row, length in zip(batch["token_ids"], batch["lengths"], strict=True):
            assert row[:length].tolist() == list(range(1, int(length) + 1))
            assert (row[length:] == 0).all()
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(5))


# ---- BucketBatchSampler --------------------------------------------------------------------------------------


def _lengths(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 60, size=n)


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_index_exactly_once_per_epoch(shuffle):
    sampler = BucketBatchSampler(_lengths(103), batch_size=8, shuffle=shuffle, bucket_size=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        flat = [i for batch in sampler for i in batch]
        assert sorted(flat) == list(range(103))


def test_batches_are_length_sorted_within_a_chunk():
    lengths = _lengths(400, seed=1)
    batch_size, bucket_size = 10, 5
    sampler = BucketBatchSampler(lengths, batch_size=batch_size, bucket_size=bucket_size, seed=3)
    batches = list(sampler)
    # Each batch is a consecutive slice of a length-sorted chunk: its lengths are sorted and its spread is
    # far smaller than that of a random batch.
    assert all(list(lengths[b]) == sorted(lengths[b]) for b in batches)
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.array_split(np.arange(400), 40)])
    assert spread < random_spread / 3


def test_evaluation_order_is_sorted_by_length():
    lengths = _lengths(50, seed=2)
    flat = [i for batch in BucketBatchSampler(lengths, batch_size=7, shuffle=False) for i in batch]
    assert list(lengths[flat]) == sorted(lengths)


def test_epochs_differ_but_are_reproducible():
    def order(seed, epoch):
        sampler = BucketBatchSampler(_lengths(200), batch_size=8, bucket_size=2, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(0, 0) == order(0, 0)
    assert order(0, 1) == order(0, 1)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)


def test_lightning_sets_the_epoch_of_a_loader_with_the_sampler():
    from lightning.fabric.utilities.data import _set_sampler_epoch  # what Lightning's loops call every epoch

    dataset = TokenIdsDataset.from_lists([[1] * n for n in _lengths(64)])
    sampler = BucketBatchSampler(dataset.lengths, 8, bucket_size=2, seed=1)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_batch)
    orders = []
    for epoch in range(2):
        _set_sampler_epoch(loader, epoch)
        orders.append([batch["index"].tolist() for batch in loader])
    assert sampler.epoch == 1 and orders[0] != orders[1]


def test_without_shuffle_the_order_ignores_the_epoch():
    sampler = BucketBatchSampler(_lengths(30), batch_size=4, shuffle=False)
    first = list(sampler)
    sampler.set_epoch(5)
    assert list(sampler) == first


@pytest.mark.parametrize("num_replicas", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 7, 32, 33, 101])
def test_len_equals_batches_yielded(n, num_replicas):
    lengths = _lengths(n)
    for batch_size, bucket_size, drop_last, shuffle in itertools.product(
        [1, 4, 10], [1, 3, 100], [False, True], [True, False]
    ):
        combo = f"{batch_size=} {bucket_size=} {drop_last=} {shuffle=}"
        samplers = [
            BucketBatchSampler(
                lengths,
                batch_size,
                shuffle=shuffle,
                bucket_size=bucket_size,
                drop_last=drop_last,
                num_replicas=num_replicas,
                rank=rank,
            )
            for rank in range(num_replicas)
        ]
        kept = sum(len(b) for b in BucketBatchSampler(lengths, batch_size, shuffle=False, drop_last=drop_last))
        if not shuffle and 0 < kept < num_replicas:
            with pytest.raises(TextclfError, match=f"cannot evaluate {kept} texts on {num_replicas} ranks"):
                list(samplers[0])
            continue
        per_rank = [list(sampler) for sampler in samplers]
        for rank, (sampler, batches) in enumerate(zip(samplers, per_rank, strict=True)):
            assert len(sampler) == len(batches), f"{combo} {rank=}"
            if drop_last and (shuffle or num_replicas == 1):
                assert all(len(b) == batch_size for b in batches), combo
        counts = [len(batches) for batches in per_rank]
        if shuffle:
            assert len(set(counts)) == 1, f"{combo}: every rank must get the same number of batches (or DDP hangs)"
        elif any(counts):
            assert min(counts) >= 1 and max(counts) - min(counts) <= 1, f"{combo}: {counts}"


def _rank_batches(lengths, num_replicas, **kwargs):
    return [
        [tuple(b) for b in BucketBatchSampler(lengths, num_replicas=num_replicas, rank=rank, **kwargs)]
        for rank in range(num_replicas)
    ]


def _flat(per_rank):
    return [i for batches in per_rank for b in batches for i in b]


@pytest.mark.parametrize("shuffle", [True, False])
def test_ddp_ranks_are_disjoint_when_batches_divide_evenly(shuffle):
    lengths = _lengths(96)  # 12 batches of 8 over 3 ranks
    per_rank = _rank_batches(lengths, 3, batch_size=8, bucket_size=2, shuffle=shuffle, seed=4)
    assert [len(batches) for batches in per_rank] == [4, 4, 4]
    indices = [{i for b in batches for i in b} for batches in per_rank]
    for a, b in itertools.combinations(indices, 2):
        assert not a & b
    assert set.union(*indices) == set(range(96))


@pytest.mark.parametrize("n", [50, 57, 101])
def test_ddp_training_shards_are_disjoint_with_equal_counts_when_batches_do_not_divide(n):
    # 50 texts in batches of 8: 7 batches over 4 ranks -> the largest batch is halved to make 8
    for epoch in range(3):
        per_rank = []
        for rank in range(4):
            sampler = BucketBatchSampler(_lengths(n), 8, bucket_size=2, seed=4, num_replicas=4, rank=rank)
            sampler.set_epoch(epoch)
            per_rank.append([tuple(b) for b in sampler])
        assert len({len(batches) for batches in per_rank}) == 1
        assert sorted(_flat(per_rank)) == list(range(n)), "every text exactly once per epoch, on one rank"
        assert max(len(b) for batches in per_rank for b in batches) <= 8


def test_ddp_training_with_drop_last_drops_the_surplus_batches():
    per_rank = _rank_batches(_lengths(56), 4, batch_size=8, drop_last=True, seed=4)  # 7 full batches, 4 ranks
    assert [len(batches) for batches in per_rank] == [1, 1, 1, 1]
    flat = _flat(per_rank)
    assert len(flat) == len(set(flat)) == 32


def test_ddp_evaluation_sees_every_text_exactly_once_with_unequal_counts():
    lengths = _lengths(50)  # 7 batches of 8 over 4 ranks: 2, 2, 2, 1 batches, nothing repeated
    per_rank = _rank_batches(lengths, 4, batch_size=8, shuffle=False)
    assert [len(batches) for batches in per_rank] == [2, 2, 2, 1]
    assert sorted(_flat(per_rank)) == list(range(50))
    single = [tuple(b) for b in BucketBatchSampler(lengths, 8, shuffle=False)]
    assert sorted(b for batches in per_rank for b in batches) == sorted(single), "the same batches as one process"


def test_ddp_evaluation_gives_every_rank_a_batch_when_there_are_fewer_batches_than_ranks():
    per_rank = _rank_batches(_lengths(10), 4, batch_size=8, shuffle=False)  # 2 batches, 4 ranks
    assert all(len(batches) == 1 for batches in per_rank)
    assert sorted(_flat(per_rank)) == list(range(10))


def test_ddp_evaluation_of_fewer_texts_than_ranks_is_a_clear_error():
    sampler = BucketBatchSampler(_lengths(3), 8, shuffle=False, num_replicas=4, rank=3)
    with pytest.raises(TextclfError, match="cannot evaluate 3 texts on 4 ranks"):
        list(sampler)


def test_ddp_all_ranks_agree_on_the_epoch_order():
    lengths = _lengths(64)
    epoch0 = _rank_batches(lengths, 2, batch_size=8, seed=1)

    def at_epoch(epoch):
        out = []
        for rank in range(2):
            sampler = BucketBatchSampler(lengths, 8, seed=1, num_replicas=2, rank=rank)
            sampler.set_epoch(epoch)
            out.append([tuple(b) for b in sampler])
        return out

    epoch1 = at_epoch(1)
    assert epoch1 != epoch0
    assert {i for batches in epoch1 for b in batches for i in b} == set(range(64))


def test_more_ranks_than_texts_in_training_still_gives_every_rank_a_batch():
    per_rank = _rank_batches(_lengths(3), 8, batch_size=1, seed=0)
    assert all(len(batches) == 1 for batches in per_rank)
    assert set(_flat(per_rank)) == {0, 1, 2}


# ---- BucketLoader: resumable mid-epoch ---------------------------------------------------------------------------


def _indices(loader) -> list[list[int]]:
    return [batch["index"].tolist() for batch in loader]


def test_bucket_loader_resumes_at_the_batch_where_its_state_was_taken():
    from textclf.data.batching import bucket_loader

    dataset = TokenIdsDataset.from_lists([[1] * (i % 7 + 1) for i in range(50)], targets=[0] * 50)
    loader = bucket_loader(dataset, 4, shuffle=True, seed=3, bucket_size=2)
    loader.batch_sampler.set_epoch(2)
    uninterrupted = _indices(loader)
    iterator = iter(loader)
    for _ in range(3):
        next(iterator)
    state = loader.state_dict()
    settings = {"texts": 50, "batch_size": 4, "bucket_size": 2, "seed": 3}  # what a resume must not change
    assert state == {"epoch": 2, "batches": 3, **settings}

    resumed = bucket_loader(dataset, 4, shuffle=True, seed=3, bucket_size=2)  # a fresh process: epoch 0
    resumed.load_state_dict(state)
    assert _indices(resumed) == uninterrupted[3:]
    assert resumed.state_dict() == {"epoch": 2, "batches": len(uninterrupted), **settings}
    resumed.batch_sampler.set_epoch(3)  # the next epoch is whole again
    loader.batch_sampler.set_epoch(3)
    assert _indices(resumed) == _indices(loader)


def test_a_bucket_loader_pass_starts_at_its_first_batch_not_at_iter():
    """Lightning creates a resumed run's iterator before it sets the sampler's epoch."""
    from textclf.data.batching import bucket_loader

    dataset = TokenIdsDataset.from_lists([[1] * (i % 5 + 1) for i in range(30)], targets=[0] * 30)
    loader = bucket_loader(dataset, 4, shuffle=True, seed=0, bucket_size=2)
    iterator = iter(loader)
    loader.batch_sampler.set_epoch(4)
    first = next(iterator)["index"].tolist()
    assert first == _indices(loader)[0]
