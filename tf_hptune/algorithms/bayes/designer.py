"""ALGORITHM_UNSPECIFIED: Bayesian optimisation with a Gaussian process, as the service did.

A scrambled Halton design opens the study (an unevenly spaced DISCRETE list's values placed as
if evenly spaced); after it, each suggestion maximises log expected improvement under a GP
fitted to the warped losses, or to the losses merely standardised, or with an uneven DISCRETE
list placed by rank, where the data give that model clearly more evidence. The improvement is
measured against the best result when one point is asked and none runs, else against the lowest
posterior mean at the trials (``incumbent``). Failed trials count as the worst loss seen so
far. Running trials and points already chosen for the batch enter the model at their posterior
mean ("kriging believer"): the model's uncertainty there collapses, which pushes the rest of
the batch elsewhere, though only to points that the model without fantasies still gives a
chance to improve (``acquisition.Relevant``). In the last tenth of a known budget
(``set_budget``), a suggestion opens with the point where the model expects the best result,
the rest of its batch chosen around it as usual, unless the results are noisy: what a job
leaves its user is its best trial, so its last trials refine rather than explore.
Beyond ``MAX_TRAINING`` trials the model keeps the best ones and a spread-out subset of the
rest, so a suggestion costs about the same at 1,000 trials as at 300.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import kendalltau, qmc

from tf_hptune.algorithms.base import Designer
from tf_hptune.algorithms.bayes.acquisition import LogEI, LowMean, Relevant
from tf_hptune.algorithms.bayes.believer import Believer
from tf_hptune.algorithms.bayes.gp import (
    Columns,
    GaussianProcess,
    Hyper,
    InputWarp,
    standardise,
    training_subset,
    warp_outputs,
)
from tf_hptune.algorithms.bayes.optimizer import AcquisitionOptimizer, row_keys
from tf_hptune.algorithms.bayes.stacked import Model, Stacked, fit_chain
from tf_hptune.algorithms.prior import positions, prior_rows
from tf_hptune.space import SearchSpace
from tf_hptune.spec.model import ParamType
from tf_hptune.trial import PriorStudy, estimates

MAX_TRAINING = 300  # trials the model is fitted to, at most
MAX_PRIOR_TRAINING = 200  # trials of each earlier job its model is fitted to, at most
LOO_MARGIN = 2.0  # nats by which the stacked GP must out-predict the plain one to be used
VANISHED_LOG_EI = -20.0  # log expected improvement (standardised units) taken as none
AVOID_FRACTION = 0.25  # the design skips points the earlier jobs predict among their worst
TRUST_RESULTS = 3  # results of this job before the earlier jobs' model is tested and used
TRUST_WINDOW = 30  # results over which it is tested; after them, the verdict stands
TRUST_Z = 1.0  # standard deviations of Kendall's tau (under independence) it must reach
# Strong agreement: tau over all the results in the window reaches this many standard
# deviations. It reverses a failed test from the ``RECOVER_RESULTS``-th result on (stricter than
# the first test, since it is asked again at every suggestion), and only under it do the earlier
# jobs' points take design slots: a trial spent on a misleading point costs more than a model
# that follows it, which is used only where it predicts better (``LOO_MARGIN``)
STRONG_Z = 2.0
RECOVER_RESULTS = 5
# With weaker agreement, tau over all the results reaching this many standard deviations as the
# opening design ends, its last slot goes to the earlier jobs' best point, once: one trial where
# the earlier jobs say the optimum is, at the end of a design whose other points are as without
# them (where that point fails, the model learns it like any other design point)
PROBE_Z = 1.0
RELEVANT_KAPPA = 2.0  # a batch's later members need mean - 2 sd at or below the incumbent
# With this many points pending (running, or earlier in the batch), a member is the pool's best
# point without a local search: what such a batch needs is spread, not each point's last
# digits, and a member then costs a fifteenth (the Tuner keeps up with 128 trials ending at once)
WIDE_BATCH = 32
UNEVEN = 1.5  # a DISCRETE parameter whose values' gaps differ by more is also tried by rank
# nats of evidence by which a model other than the GP of warped losses, with DISCRETE values
# placed by value, must win to replace it (a Bayes factor of e^2)
EVIDENCE_MARGIN = 2.0
NOISY = 0.01  # a warped GP whose noise variance is this share of its signal's sees noisy results
EXPLOIT_FRACTION = 0.1  # the share of the budget, at its end, that opens with the lowest mean
# ... unless a running trial is already this close to it on every unit column (an asynchronous
# refill would otherwise repeat the running exploitation point)
EXPLOIT_TAKEN = 0.01


class BayesianDesigner(Designer):
    """GP-based Bayesian optimisation over every parameter type, scale and constraint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng(self.seed)
        owner = np.concatenate([[i] * d.width for i, d in enumerate(self.space.dimensions)])
        weight = np.concatenate([[0.5 if d.type is ParamType.CATEGORICAL else 1.0] * d.width
                                 for d in self.space.dimensions])
        self._columns = Columns(owner.astype(int), weight)
        self.n_initial = initial_design_size(len(self.space.dimensions))
        halton = qmc.Halton(self.space.width, scramble=True, seed=self._rng.integers(2**31))
        design = halton.random(8 * self.n_initial + 64)
        self._by_rank = rank_options(self.space)
        for column, knots, _ in self._by_rank:
            # an uneven list's values placed as if evenly spaced (by rank, as the model may
            # place them too): by value, its widest gaps would take most of the design (batch
            # sizes 8 to 1024 listed on a linear scale: 512 and 1024 in 63% of the points, 8
            # to 48 in 5%)
            design[:, column] = knots[np.rint(design[:, column] * (len(knots) - 1)).astype(int)]
        design = self.space.snap(design)
        self._design = design[self.space.feasible_rows(design)]
        self._optimizer = AcquisitionOptimizer(self.space, self._rng)
        self._hyper: Hyper | None = None
        self._prior_rows = np.zeros((0, self.space.width))
        self._prior: Model | None = None
        self._prior_worst = np.zeros(len(self._design), dtype=bool)  # design rows to skip

    def set_priors(self, priors: Sequence[PriorStudy]) -> None:
        """Related earlier jobs inform the study twice, while a GP fitted to their trials
        ranks this study's results as they do (``_trust``): in the initial design, their
        most promising trials, mapped into this space, take up to half of it while it ranks
        them strongly (on weaker agreement as it ends, its last slot goes to their best
        trial, ``PROBE_Z``), and the other points skip where the earlier jobs predict a result
        among their worst quarter; in the model, their GP is the prior mean of this study's
        GP, weighted by how well it predicts this study's trials (``stacked``). Until then,
        and while that test fails, the study runs exactly as it would without them, but for
        that one trial."""
        super().set_priors(priors)
        # a stream of its own, so that the study's own draws do not depend on the priors
        rows = prior_rows(self.space, self.priors, self.goal, self._rng.spawn(1)[0])
        self._prior_rows = rows[: self.n_initial // 2]
        self._prior = fit_chain([level for study in self.priors
                                 if (level := self._prior_level(study)) is not None])
        if self._prior is not None:
            worst = np.quantile(self._prior.mean(self._prior.X), 1.0 - AVOID_FRACTION)
            self._prior_worst = self._prior.mean(self._design) > worst

    def _prior_level(self, study: PriorStudy) -> tuple[np.ndarray, np.ndarray, Columns] | None:
        """An earlier job's rows (unclipped), warped losses and columns, where the columns of
        parameters that job lacked weigh nothing (its model is flat along them)."""
        trials = [(t, v) for t, v in zip(study.trials, estimates(study.trials)) if v is not None]
        known = {p.name for p in study.params}
        present = np.array([d.name in known for d in self.space.dimensions])
        if len(trials) < 2 or not present.any():
            return None
        X = np.nan_to_num(np.array([positions(self.space, t.params) for t, _ in trials]),
                          nan=0.0)
        losses = np.array([self.goal.loss(v) for _, v in trials])
        keep = training_subset(X, losses, MAX_PRIOR_TRAINING)
        columns = Columns(self._columns.owner,
                          self._columns.weight * present[self._columns.owner])
        return X[keep], warp_outputs(losses[keep])[0], columns

    def suggest(self, count: int) -> list[dict[str, Any]]:
        done = self.completed
        X = self.space.encode_rows([t.params for t in done])
        # a trial stopped early counts at its forecast final value, not its early last value
        losses = np.array([np.nan if v is None else self.goal.loss(v) for v in estimates(done)])
        losses[~np.isfinite(losses)] = np.nan
        pending = self.space.encode_rows([t.params for t in self.running])
        taken = set(row_keys(self.space.snap(np.vstack([X, pending]))))
        rows: list[np.ndarray] = []
        trusted, agreement = self._trust(X, losses)
        strongly = trusted and agreement >= STRONG_Z
        gp = self._fit(X, losses, trusted) if np.isfinite(losses).sum() >= 2 else None
        anchors = X[np.argsort(np.nan_to_num(losses, nan=np.inf), kind="stable")[:5]]
        if trusted:
            anchors = np.vstack([anchors, self._prior_rows[:3]])
        believer: Believer | None = None
        for i in range(count):
            slot = len(done) + len(pending) + i
            if gp is None or slot < self.n_initial:
                probe = slot == self.n_initial - 1 and agreement >= PROBE_Z
                row = self._next_design(taken, trusted, strongly, probe)
            elif i == 0 and (exploit := self._exploitation(
                    gp, anchors, taken, pending, len(done) + len(pending) + count)) is not None:
                row = exploit
            else:
                if believer is None:  # one pool for the batch; its members enter as chosen
                    believer = Believer(gp, np.vstack([pending, *rows]),
                                        self._optimizer.pool(anchors))
                    best = incumbent(gp, alone=count == 1 and not len(pending))
                    believed = min([best, *gp.mean(believer.rows)])
                else:
                    believer.add(rows[-1])
                    believed = min(believed, float(gp.mean(rows[-1][None, :])[0]))
                acquisition: LogEI | Relevant = LogEI(believer, believed)
                if len(believer.rows):
                    acquisition = Relevant(acquisition, believer, best, RELEVANT_KAPPA)
                pool = (believer.pool, acquisition.pool_values())
                local = len(believer.rows) < WIDE_BATCH
                row = self._optimizer.maximize(acquisition, anchors, taken, pool, local)
                if row is None:  # every point is taken: repeat the most promising one
                    row = self._optimizer.maximize(acquisition, anchors, set(), pool, local)
                elif acquisition.values(row[None, :])[0] < VANISHED_LOG_EI:
                    # no new point can improve (or none is relevant): EI's argmax would only
                    # chase variance, which is largest where the model is surest of bad results
                    lowest = None if local else (believer.pool, -believer.pool_predict()[0])
                    row = self._optimizer.maximize(LowMean(gp), anchors, taken, lowest, local)
            if row is None:
                break
            rows.append(row)
            taken.update(row_keys(row[None, :]))
        return [self.space.decode(r) for r in rows]

    def _exploitation(self, gp: Model, anchors: np.ndarray, taken: set[bytes],
                      pending: np.ndarray, reached: int) -> np.ndarray | None:
        """The point of lowest posterior mean, where a batch that brings the study to
        ``reached`` trials ends in the budget's last ``EXPLOIT_FRACTION``, the model sees no
        noise (``NOISY``) and no running trial is there already; else None. With noise, a
        trial beside the best adds one more noisy draw among near-equals, and the job's best
        is picked by the reported values."""
        if (self.budget is None or reached <= (1.0 - EXPLOIT_FRACTION) * self.budget
                or gp.hyper.noise >= NOISY * gp.hyper.signal):
            return None
        row = self._optimizer.maximize(LowMean(gp), anchors, taken,
                                       local=len(pending) < WIDE_BATCH)
        if row is None or (len(pending) and
                           np.abs(pending - row).max(axis=1).min() <= EXPLOIT_TAKEN):
            return None
        return row

    def _trust(self, X: np.ndarray, losses: np.ndarray) -> tuple[bool, float]:
        """Whether the earlier jobs' model ranks this study's results, and its agreement with
        them: Kendall's tau between its predictions and all the results in the window (up to
        ``TRUST_WINDOW``), in standard deviations of tau under independence (-inf before
        ``TRUST_RESULTS`` results or without earlier jobs). Trusted: tau is at least
        ``TRUST_Z`` standard deviations for the first ``TRUST_RESULTS`` results and for every
        longer run of them in the window; or, once that has failed, the agreement is strong
        (``STRONG_Z``) with at least ``RECOVER_RESULTS`` results. After the window the verdict
        stands. A misleading prior so costs nothing at all in most studies, and at worst the
        few trials it proposes before their results contradict it; a related one whose ranking
        of the first three results was not perfect still counts once more results agree."""
        done = np.flatnonzero(np.isfinite(losses))[:TRUST_WINDOW]
        if self._prior is None or len(done) < TRUST_RESULTS:
            return False, -math.inf
        predicted, observed = self._prior.mean(X[done]), losses[done]

        def agreement(n: int) -> float:
            tau = kendalltau(predicted[:n], observed[:n]).statistic
            return float(tau / math.sqrt(2.0 * (2 * n + 5) / (9.0 * n * (n - 1))))

        overall = agreement(len(done))  # the last of the runs the first test checks
        trusted = ((overall >= TRUST_Z
                    and all(agreement(n) >= TRUST_Z for n in range(TRUST_RESULTS, len(done))))
                   or (overall >= STRONG_Z and len(done) >= RECOVER_RESULTS))
        return trusted, overall

    def _next_design(self, taken: set[bytes], trusted: bool, strongly: bool,
                     probe: bool = False) -> np.ndarray:
        """While the prior is strongly trusted: the next prior point if it has had no more
        turns than the quasi-random design. Else, with ``probe`` (the design's last slot,
        ``PROBE_Z``), the prior's best point if no prior point was taken yet. Else, while the
        prior is trusted, the first design point not taken yet and not where the earlier jobs
        did worst. Else the first design point not taken yet, else a random one."""
        prior_keys = row_keys(self._prior_rows)
        used = sum(key in taken for key in prior_keys)
        if strongly and used < len(prior_keys) and used <= len(taken) - used:
            return self._prior_rows[[key not in taken for key in prior_keys].index(True)]
        if probe and used == 0 and len(prior_keys):
            return self._prior_rows[0]
        avoid = self._prior_worst if trusted else np.zeros(len(self._design), dtype=bool)
        for row, key, skip in zip(self._design, row_keys(self._design), avoid):
            if key not in taken and not skip:
                return row
        return self.space.encode(self.space.sample(self._rng))

    def _fit(self, X: np.ndarray, losses: np.ndarray, trusted: bool) -> Model:
        """A GP on the warped losses (``_most_evident``); failures get the worst loss; the
        set is capped. With trusted earlier jobs, the GP stacked on their model where it
        gives them weight and predicts the trials clearly better than the plain GP
        (leave-one-out, by ``LOO_MARGIN``): a residual model that fits no better, as when
        the new optimum is a small shift of the old one or the earlier task ranks only the
        coarse shape right, must not steer the search."""
        losses = np.where(np.isfinite(losses), losses, np.nanmax(losses))
        keep = training_subset(X, losses, MAX_TRAINING)
        gp = self._most_evident(X[keep], losses[keep])
        self._hyper = gp.hyper
        if trusted and self._prior is not None:
            stacked = Stacked.fit(X[keep], gp.y, self._columns, self._prior, gp.hyper, gp.warp)
            if (stacked.weight > 0.0
                    and stacked.loo_log_likelihood() > gp.loo_log_likelihood() + LOO_MARGIN):
                return stacked
        return gp

    def _most_evident(self, X: np.ndarray, losses: np.ndarray) -> GaussianProcess:
        """The GP of the warped losses, unless the data make another clearly more likely
        (its evidence, on the losses' scale, higher by ``EVIDENCE_MARGIN``): first, where the
        warped GP finds the results noisy (``NOISY``), the GP of the losses merely
        standardised (a warp fitted to many results near the best stretches their noise over
        the whole scale; without noise, the warp's stress on good values serves the search
        better than a closer fit), then each unevenly spaced DISCRETE parameter placed by
        rank in turn (users list batch sizes 16, 32, 64, 128 on a linear scale; a learning
        rate's best value moves with their doublings, not their values)."""
        def fit(y: np.ndarray, warp: InputWarp | None = None) -> GaussianProcess:
            return GaussianProcess.fit(X, y, self._columns, start=self._hyper, warp=warp)

        (warped, warped_jacobian), (plain, plain_jacobian) = (warp_outputs(losses),
                                                              standardise(losses))
        gp = fit(warped)
        if gp.hyper.noise >= NOISY * gp.hyper.signal:
            other = fit(plain)
            if (other.log_evidence() + plain_jacobian
                    > gp.log_evidence() + warped_jacobian + EVIDENCE_MARGIN):
                gp = other
        chosen: list[tuple[int, np.ndarray, np.ndarray]] = []
        for option in self._by_rank:
            other = fit(gp.y, InputWarp(*map(tuple, zip(*chosen, option))))
            if other.log_evidence() > gp.log_evidence() + EVIDENCE_MARGIN:
                gp, chosen = other, [*chosen, option]
        return gp


def rank_options(space: SearchSpace) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """For each DISCRETE parameter whose values' gaps (in unit columns) differ by more than
    ``UNEVEN`` times: its column, its values' unit positions, and evenly spaced positions."""
    options, column = [], 0
    for d in space.dimensions:
        if d.type is ParamType.DISCRETE and len(d.values()) >= 3:
            knots = np.asarray(d.index_units(np.arange(len(d.values()))), dtype=float)
            gaps = np.diff(knots)
            if gaps.min() > 0.0 and gaps.max() > UNEVEN * gaps.min():
                options.append((column, knots, np.linspace(0.0, 1.0, len(knots))))
        column += d.width
    return options


def incumbent(gp: Model, alone: bool = False) -> float:
    """The value that expected improvement measures against. For a point suggested ``alone``
    (one asked, none running): the best result (in the model's scale), which a new point must
    beat by more than luck where results are noisy, so a sequential search keeps exploring
    instead of refining a basin it found early. For a batch, or beside running trials: the
    lowest posterior mean at the trials (the best result less its luck), since the batch's
    fantasies spread its members already and its first member should exploit (measured in
    RESULTS.md: each choice loses in the other setting)."""
    return float(np.min(gp.y if alone else gp.predict(gp.X)[0]))


def initial_design_size(n_params: int) -> int:
    """Trials drawn from the quasi-random design before the model takes over."""
    return min(10, max(5, 2 * n_params))
