"""The simulated world: a seeded, believable PRM with latent state and ground truth.

What lives here: the world generator (:func:`.world.simulate_world`, configured by
:class:`.world.SimulationConfig`), its continuation beyond the history
(:func:`.continuation.continue_world`) and package delivery with true effects
(:func:`.delivery.simulate_delivery`), built on one module per topic: :mod:`.calendar`
(Japanese business days and hours), :mod:`.catalogue` (contents and how partners act on them),
:mod:`.deals` (amounts, stages, outcomes) and :mod:`.columns` (Arrow ids, timestamps, schemas).
Start with :mod:`.simulate`, which gathers the public names and explains how the world works.

May import: the base modules only (``errors``, ``vocab``, ``results``); writing into a workspace
is :mod:`supportlab.data.workspace`'s job.
"""
