"""Experiment results: exposures and conversions per arm, as the policy declares them."""

from __future__ import annotations

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler

from service.decision.experiments import ExperimentResult, results
from service.http.openapi import problems
from service.http.parts import Parts


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    @get(
        "/v1/experiments/{experiment_id:str}",
        summary="Read an experiment's results",
        tags=["experiments"],
        responses=problems(404, 503),
    )
    async def experiment(experiment_id: str) -> ExperimentResult:
        """Exposures, conversions and conversion rate per arm with its 95% interval, and the
        uplift against control with its interval; holdout visitors as a row of their own."""
        declared = parts.policy.experiment(experiment_id)
        if declared is None:
            raise NotFoundException(f"no experiment {experiment_id!r} in the policy")
        return await results(parts.store.client, declared)

    return [experiment]
