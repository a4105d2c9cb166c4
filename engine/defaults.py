"""Defaults shared by the command line, the Python API and the app (torch-free, so that
``python -m engine --help`` and ``import engine.api`` stay light).

The default sampler: with the trained molecule models the stochastic sampler beat the
deterministic ones on every recipe (AMR-R, PoseBusters validity, bond lengths;
docs/recipe_sweep.md) and improves with more steps; 50 steps keep 88-95 % of bonds within
10 % of the references' length.
"""
DEFAULT_SAMPLER = "ancestral"
# 4 steps, because the polish (below) now converges: on 40 held-out drug-like molecules
# x 10 conformers (in process, PoseBusters' "mol" geometry checks by a fast proxy,
# references ETKDGv3 + MMFF under another seed), with 300 polish iterations ancestral
# 3 / 4 / 5 / 8 / 12 steps gave AMR-R 1.167 / 1.128 / 1.157 / 1.177 / 1.197 Å, all >= 99 %
# valid; DDIM 4 / 6: 1.173 / 1.179 Å. More network steps do not buy better shapes once
# the local geometry is relaxed, and the network is the costly part of a step.
# With the MMFF94 stage (DEFAULT_RELAX_STEPS below) 2 steps are as good as 3 or 4, and
# each network evaluation saved is ~1 s of a 10 s run: in process (40 held-out molecules
# x 10, polish 100 + MMFF 200, two seeds) 2 / 3 steps gave AMR-R 0.906 / 0.880 and 0.896 /
# 0.914 A (MMFF 500: 3 / 4 steps 0.874 / 0.859 and 0.886 / 0.898 A);
# bench/conformer_targets.py in one run: 2 steps 0.849 A, COV-R 0.415, 1.02x ETKDG+MMFF's
# speed; 3 steps 0.884 A, 0.345, 0.97x.
DEFAULT_STEPS = 2
# Lattices: the spin model's card (resources/models/lattice_spin.md) recommends the
# ancestral sampler with 50 steps; there is no polish to fix what few steps leave.
DEFAULT_LATTICE_STEPS = 50
# sample's sampler steps are even in t (2 steps: t = 1, 0.5, 0)
DEFAULT_TIME_GRID = "uniform"

# The app's Denoise is a run a person watches and steers (engine.sampling.settings.
# WATCH_SETTINGS): every frame a state of the run, the size growing smoothly. Measured on
# celecoxib, ibuprofen, aspirin and caffeine x 4 seeds (radius of gyration of S_t per
# frame; worst change between consecutive frames / largest frame against the final
# structure): ancestral 50 steps even in t: 1.38x / 1.13 (the first step from the prior
# the largest jump); ancestral even in sqrt(B(t)): 1.35x (the fresh noise of every step);
# ancestral 100 steps: 1.29x; DDIM 50 steps even in t: 1.18x (first step) / 1.21; DDIM 50
# steps even in sqrt(B(t)) ("sigma"): 1.04x / 1.24, and a deterministic run makes a slider
# change a continuous change of the run. No expansion: it made the frames 3x a molecule.
WATCH_SAMPLER = "ddim"
WATCH_STEPS = 50
WATCH_TIME_GRID = "sigma"
# At most this many frames of each chemistry stage (polish, MMFF94) are recorded
STAGE_FRAMES = 30

# Chemical-energy guidance and polish (engine.chem.energy): the weight of the energy
# against the network's estimate at sampler times t <= DEFAULT_GUIDANCE_START, and the
# L-BFGS iterations on every sample. Polish 50 / 100 / 150 / 200 / 300 / 400 iterations
# (8 steps, then 4 steps from 150 on; same set-up as above) gave AMR-R 1.358 / 1.255 /
# 1.193 / 1.160 / 1.130 / ~1.13 Å and COV-R 0.075 / 0.16 / 0.19 / 0.21 / 0.225: a
# relaxed local geometry is most of what brings samples near the references. With 4
# steps and 300 iterations, guidance 0 / 1 / 3 and start 0.3 / 0.6 all lie within
# 0.01 Å; the guidance stays on for the app's λ_E slider. Measured in
# bench/conformer_targets.py; see the README.
# With 2 steps (t = 1, 0.5) the guidance must start at 0.5 to act at all (the app's λ_E
# slider changes the frame at t = 0.5); with polish 100 + MMFF 200, start 0.3 (no step) /
# 0.5 / 1.0 and weight 1 / 3 gave AMR-R 0.906 / 0.909 / 0.899 / 0.897-0.899 A (in process).
DEFAULT_ENERGY_GUIDANCE = 1.0
DEFAULT_GUIDANCE_START = 0.5
# The network's clean estimates are too compact (radius of gyration 0.77-0.85 of the
# references' before the polish; a denoiser trained on the mean squared error regresses
# towards the mean, most at large t): every estimate Ŝ₀ is scaled about its molecule's
# centroid before the guidance, by DEFAULT_EXPANSION ** (1 / steps), so that the factor is
# that of the whole run and does not compound with more steps (3.4 per estimate made 12
# steps diverge). In process (40 held-out molecules x 10, ancestral 2 steps, polish 100 +
# MMFF 200, seeds 2-5, mean AMR-R A / COV-R): factor 1 (off) 0.861 / 0.405; 2.9 0.813 /
# 0.429; 3.4 0.796 / 0.438 (0.786 / 0.449 in a second set of runs); 4.4 0.808 / 0.443.
# Scaling only the final sample (before the polish) by 1.3 / 1.45 gave 0.826 / 0.830.
# With 4 steps (one seed) 0.856 -> 0.759 A, with 12 steps 0.856. The MMFF stage takes no
# longer with it. 1 turns it off.
DEFAULT_EXPANSION = 3.4

# A molecule without chirality tags has the same conformers as its mirror image: for it the
# K conformers written are the K most diverse (MaxMin on symmetry-aware heavy-atom RMSD,
# the first sample first) of the K samples and their K mirror images, at no extra sampling
# or MMFF cost. In process (160 held-out molecules x 10, default settings, AMR-R A /
# COV-R, seeds 0 / 1 / 2): the 10 samples 0.747 / 0.497, 0.732 / 0.485; the 10 most
# diverse of them and their images 0.686 / 0.535, 0.671 / 0.518, 0.678 / 0.555 (with a
# plain Kabsch RMSD for the choice 0.690 / 0.697 / 0.693 A); 5 samples + their 5 images
# 0.766 / 0.749 A (1.7x faster). The 10 most diverse of 20 samples: 0.768 against 0.789
# for 10 (40 molecules, seed 2), at twice the cost. bench/conformer_targets.py (README):
# AMR-R 0.688, COV-R 0.532 against 0.746 / 0.497 without, same run.
DEFAULT_MIRROR_IMAGES = True
# ... and with MMFF94 run to convergence (DEFAULT_RELAX_STEPS) such a molecule needs fewer
# samples: K conformers are chosen from ceil(0.8 K) samples and their images. In process
# (160 held-out molecules x 10, relax 400, AMR-R A / COV-R): 10 samples 0.624 / 0.570
# (seed 0); 9: 0.646 / 0.545, 0.631 / 0.579 (seeds 1 / 2); 8: 0.652 / 0.554, 0.641 / 0.546,
# 0.643 / 0.581 (seeds 0 / 1 / 2); 7: 0.670 / 0.543 (seed 0). 8 of 10 pays for the longer
# MMFF94 stage; molecules with chirality tags sample all K.
MIRROR_SAMPLE_FRACTION = 0.8

# With the MMFF94 stage after it, the polish only has to hand MMFF a sane structure:
# polish 0 / 50 / 100 / 150 / 200 + MMFF (in process, 4 steps) gave AMR-R 0.929 / 0.919 /
# 0.862 / 0.882 / 0.883 A; polish 100 costs a third of polish 300. With the expansion
# (below; 2 steps, seeds 2-5 as there) polish 40 / 70 / 100 gave 0.839 / 0.794 / 0.796 A,
# COV-R 0.408 / 0.434 / 0.438, and MMFF94 needed as many iterations after 70 as after 100
# (74 / 79 % of conformers use all 200): 70 saves ~0.4 s of a 10 s run.
DEFAULT_POLISH_STEPS = 70
# The last iterations of the polish leave out the torsion preferences (engine.chem.energy
# TORSION_WEIGHT = 0.03), so that no preference holds a bond or angle outside its bounds.
# Same set-up as above, 4 steps, polish 300, two seeds (AMR-R Å / COV-R, mean): without
# torsion preferences 1.141 / 0.22; weight 0.015: 1.092 / 0.26; 0.03: 1.093 / 0.28
# (0.06, one seed: 1.119 / 0.26). Weight 0.03 with preferences to the end: 1.116 / 0.31
# but 98.0 % valid (bonds); its last 50 iterations without them: 1.116 / 0.30, 99.5 %.
POLISH_SETTLE_STEPS = 50

# MMFF94 (RDKit; UFF where MMFF has no parameters) after the polish, as ETKDG's baseline
# does after embedding: the chemical energy makes structures valid but its flat-bottom
# bounds leave torsions where the network put them (median 17 degrees from the nearest
# reference value against ETKDG+MMFF's 1.6); MMFF puts them into their minima. On 40
# held-out molecules x 10 (bench/conformer_targets.py, the same run): polish 300 alone
# AMR-R 1.046 A / COV-R 0.270 at 0.89x ETKDG+MMFF's speed; polish 100 + MMFF 200 0.896 /
# 0.380 at 0.88x; + MMFF 500 0.878 / 0.400 at 0.81x. MMFF's electrostatics and van der
# Waals terms both matter (without electrostatics 0.930 A, without either 1.234 A), so no
# cheaper surrogate term of the chemical energy replaces it. 0 turns it off.
# Run to convergence since the mirror images (above) made the samples fewer: 74-79 % of the
# conformers used all of 200 iterations, and an unconverged conformer sits off the minima
# the references (ETKDG + MMFF to convergence) lie in. In process (160 held-out molecules x
# 10, 10 samples, seed 0, AMR-R A / COV-R, seconds): MMFF 200: 0.686 / 0.535, 36.5 s; 300:
# 0.639 / 0.556, 41.8 s; 400: 0.625 / 0.570, 42.2 s; 500: 0.626 / 0.568, 41.9 s; 2000: 0.625 /
# 0.568, 43.4 s. A non-bonded cut-off (9 / 6 A, relax 400) is no cheaper way: 0.725 / 0.773 A.
DEFAULT_RELAX_STEPS = 500

# Guard of Phi^{-1} for processes used in reverse sampling: an imperfect eps_hat is
# amplified at most 1/(2 floor) times in modes whose signal has decayed (their S_0 part is
# unknowable there; later steps, where phi ~ 1, recover it). The exact 1e-10 floor of
# GraphDiffusion is for roundtrips; sampling with a real network needs this one.
SAMPLING_PHI_FLOOR = 0.05
# The same guard for a network with the v parameterisation (engine.models.outputs): its
# Ŝ₀ = Φ S_t + Σ^{1/2} v̂ never divides by Φ, so the sampler's re-derivation of Ŝ₀ from ε̂
# needs no more than float32's round-off guard; 0.05 shrank its estimates in the modes
# whose Φ fell below it (at t = 1 the slowest, global modes: to about half). Measured on a
# 2,000-step v network, 60 validation molecules x 5 raw samples: floor 0.05 -> 1e-4, 2
# steps Rg 0.47 -> 0.60 of the references', AMR-R 2.63 -> 2.10 A; 10 steps 0.83 -> 0.86,
# 1.81 -> 1.68 A (docs/raw_samples.md).
V_SAMPLING_PHI_FLOOR = 1e-4
