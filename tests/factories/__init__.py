"""Test data, one module per app of the web tier and one `make_*` per model.

    tests/factories/accounts.py      make_user, make_api_token
    tests/factories/competitions.py  make_dataset, make_competition, make_bare_competition,
                                     make_participations
    tests/factories/teams.py         make_team
    tests/factories/submissions.py   make_submission (and the files an entry sends:
                                     predictions_csv, competition_test_ids, TINY_CONFIG)
    tests/factories/leaderboards.py  make_entry (an entry as the scorer leaves it, on the board)
    tests/factories/lab.py           make_claim_result (a claim's measured result, as run_claims stores it)

Objects are made the way the platform makes them (its services) where that matters to
what is tested: a competition has its answer key and split. make_bare_competition is the
exception, for board and team tests that never score a file. Import a factory from its
module, e.g. `from tests.factories.competitions import make_competition`.
"""
