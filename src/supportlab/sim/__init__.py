"""The simulated world: a seeded, believable PRM with latent state and ground truth.

What lives here: the world generator (:func:`.simulate.simulate_world`) and package delivery
with true effects (:func:`.simulate.simulate_delivery`). Start with
:class:`.simulate.SimulationConfig`.

May import: the base modules only (``errors``, ``vocab``, ``results``); writing into a workspace
is :mod:`supportlab.data.workspace`'s job.
"""
