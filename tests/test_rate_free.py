"""A variant that takes no rate (Dense) is one run per remaining settings in a sweep, logged with
an empty rate, and that run is its value in every rate's block of the ranking."""

import numpy as np
import pandas as pd
import pytest

from pernode_cli.errors import PernodeError
from pernode_cli.logs import RunInLog
from pernode_cli.schema import make_run_id
from pernode_cli.stats.blocks import block_matrices
from pernode_cli.sweeps.config import load_config
from pernode_cli.sweeps.plan import plan_table, planned_runs
from pernode_cli.training.config import RunSpec
from pernode_cli.variants import get_variant, run_rate
from tests.logs_factory import log_rows

GRID = ('dataset = "digits"\n[grid]\nvariants = ["Dropout", "Dense"]\nrates = [0.1, 0.3, 0.5]\nseeds = [0, 1]\n'
        'units = [4]\nbatch_sizes = [32]\n[fixed]\nepochs = 1\n')


@pytest.fixture
def config(tmp_path):
    (tmp_path / "g.toml").write_text(GRID)
    return load_config(tmp_path / "g.toml")


def test_a_rate_free_variant_is_one_run_per_seed(config):
    table = plan_table(config, (1, 1))
    dense = [i for i, v in enumerate(table.columns["variant"]) if v == "Dense"]
    assert len(table) == 3 * 2 + 2 and len(dense) == 2
    assert all(table.columns["rate"][i] is None for i in dense)
    runs = planned_runs(config, table)
    for run in runs:  # the planned id is the run's own id, as `train` computes it
        assert run.run_id == make_run_id(run.config.settings())
    assert {r.config.rate for r in runs if r.config.variant == "Dense"} == {None}
    assert len(plan_table(config, (1, 2))) + len(plan_table(config, (2, 2))) == len(table)  # shards still split it


def test_an_earlier_log_of_one_dense_run_per_rate_keeps_that_layout(config):
    legacy = RunSpec(dataset="digits", variant="Dense", rate=0.3, units=4, batch_size=32, seed=1, epochs=1)
    in_log = {make_run_id(legacy.settings()): RunInLog(attempts=1, end="epochs", rows=1)}
    table = plan_table(config, (1, 1), in_log)
    assert sum(v == "Dense" for v in table.columns["variant"]) == 6  # as that sweep began
    assert sum(s == "done" for s in table.status) == 1


def test_run_rate_checks_the_rate_and_drops_it_where_unused():
    assert run_rate("Dense", 0.3) is None and run_rate("Dropout", 0.3) == 0.3
    assert not get_variant("Dense").uses_rate and get_variant("PerNodeBernoulli").uses_rate
    with pytest.raises(PernodeError, match="`rate` must be in"):
        run_rate("Dense", 1.5)
    with pytest.raises(PernodeError, match="`rate` is needed for variant Dropout"):
        RunSpec(dataset="digits", variant="Dropout", rate=None)


def test_the_rate_free_run_fills_every_rate_block():
    rows = pd.DataFrame(log_rows(variants=("Dropout", "PerNodeBernoulli"), rates=(0.2, 0.4, 0.6), seeds=(0, 1)))
    dense = pd.DataFrame(log_rows(variants=("Dense",), rates=(0.2,), seeds=(0, 1), seed=3)).assign(rate=np.nan)
    frame = pd.concat([rows, dense], ignore_index=True)
    m = block_matrices(frame, "test_loss", "best", "val_loss", False)["digits"]
    assert m.n == 3 and m.dropped == 0 and "Dense" in m.variants
    column = m.values[:, m.variants.index("Dense")]
    assert np.all(column == column[0])  # one run, the same value in every block
