"""Record linkage of dose records to the population registry.

normalise (:mod:`.prepare`) → candidates (:mod:`.blocking`) → compare
(:mod:`.compare`) → score (:mod:`.model`) → classify (:mod:`.classify`),
driven by :func:`.pipeline.run_match`; :mod:`.evaluate` and :mod:`.explain`
serve researchers and analysts.
"""
