"""LIPS symbolic core (arXiv 2502.13834; official code github.com/Lizn-zn/NeqLIPS @ad657df).

Modules, in the order a best-first prover uses them (nothing is imported here, so importing the
package stays cheap; z3 and scipy load only inside the functions that need them):

  limits       Limits on one expression, ExprParseError, the check on powers
  tokenizer    the expression vocabulary (functions, reserved words) and the checked tokenizer
  grammar      the safe expression parser: recursive descent to a parse tree whose limits are
               checked before any sympy work; parse_plain (no eval, no parse_expr)
  sympy_build  parse tree -> sympy, powers checked again on the sympy values
  latex        a LaTeX subset translated into the plain grammar
  problem      Inequality / Goal / Constraint model; parse_constraint, parse_goal, parse_problem
  reading      problem text -> plain-syntax parts: phrasings, LaTeX parts, variable names,
               ProblemParseError, describe_reading
  implicit_products  names like `ab` read as a*b
  expr         text <-> sympy (plain, Lean, LaTeX) through grammar
  lean         NeqLIPS .lean theorem statements and reference scripts
  problems     JSONL problem sets: load_inequalities("ineq-easy" | "mo-int" | "chen-no" | ...)
  lemmas       ScalingLib.json as sympy patterns (left: in <= out on lhs, right: in >= out on rhs)
  matching     AC matcher of `k * CORE + l` against a whole goal side (acrules: its sum and
               product rules; exprtools: helpers)
  scaling      apply_lemma / scale_goal -> ScaleStep records
  numeric      feasible test points, PointCache, Nelder-Mead refutation
  smt          z3 (nlsat) queries: z3terms (sympy -> z3, exact radicals), each query in a
               killable worker (z3process starts z3worker) with a hard wall-clock limit
  filtering    check_step: counterexample filter + soundness of a step; check_new_goal
  attempt      Attempt: what one closing checker says
  positivity   the structural positivity closer (is_nonneg)
  univariate   linear elimination, projected intervals, the exact one-variable closer
  closing      close_goal: positivity, univariate, z3, sos (prove); points, minimise (refute)
  sos          SOS certificates: cvxpy SDP, checked exactly in rationals (optional cvxpy);
               sos_form (goal -> polynomial), sos_gram (Gram basis, exact equations, PSD test),
               sos_mult (equality multipliers: abc = 1)
  symtactics   the symbolic-only tactics' registry (symbolic_steps, rederive): sumtactics
               (tangent line, equal value; separable), pqr, cancel_power; symstep (records)
  symmetry     variable permutations that fix the constraints (dedupe of renamed goals)
  score        symbolic_score / top_k (official ranker.cal_complexity)
  equivalence  check_rewrite for LLM rewrites; sym_rewrites (deterministic fallbacks)
  replay       replay the `scale` steps of the reference proofs
  ranking      the LLM ranker's prompt and reading of its answer
  config       LipsConfig and presets
  frontier     the global goal queue in symbolic order (top k for the LLM ranker) and the
               run-wide duplicate check
  homogenise   the official first step: a non-homogeneous goal made homogeneous with an
               equality constraint (make_by_homogeneous)
  expand       a goal's candidate children (homogenisation, scaling, rewrites, symbolic tactics)
  verdict      what one node_verified event says, per outcome
  proof        recheck of a proved chain and its proof text
  export       a proof as a NeqLIPS tactic script under its Lean statement
  admission    candidates -> filtered nodes with verdicts (a mixin of LipsSearch)
  search       LipsSearch: wires the parts; with admission the only modules that emit events
  runset       `python -m backend.search.lips.runset SET SECONDS`: the search on a problem set
See docs/LIPS.md.
"""
