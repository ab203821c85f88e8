"""What each API operation does, for the docs: a summary and a description per operationId.

Written in one table rather than taken from the views' docstrings: a docstring documents the
class for its readers (and a subclass inherits its parent's, which then described the wrong
operation), while this text is for the API's users, per operation. A view that declares its own
`extend_schema(summary=…, description=…)` keeps it. `tests/platform/test_api_docs.py` walks the
schema: every operation has both, and no two operations share a description.

Two schemas: the participants' (`/api/schema/`, the docs page) and the workers' callbacks
(`/api/worker/schema/`): a participant never calls those, and a worker needs nothing else.
"""

from __future__ import annotations

WORKER_PREFIX = "/api/worker/"

OPERATIONS: dict[str, tuple[str, str]] = {
    "root_retrieve": (
        "The API's index",
        "Links to the entry resources (competitions, datasets, your account, your tokens, the "
        "platform's status), the OpenAPI schema and these docs.",
    ),
    # --- account ------------------------------------------------------------------------
    "me_retrieve": (
        "Who am I",
        "The account the token (or session) belongs to. `podium login` calls it to check a token "
        "before saving it.",
    ),
    "tokens_list": (
        "Your API tokens",
        "Your tokens with their names, prefixes and when each was last used; never the keys "
        "themselves (only their hashes are stored).",
    ),
    "tokens_create": (
        "Create an API token",
        "A new token for the CLI or a script. The answer shows the key once (`pdm_…`); store it: it "
        "cannot be shown again. Send it as `Authorization: Token <key>`.",
    ),
    "tokens_destroy": (
        "Revoke an API token",
        "The token stops working at once. 404 for a token that is not yours.",
    ),
    # --- competitions and data ------------------------------------------------------------
    "competitions_list": (
        "List competitions",
        "Published competitions, newest first, with their metric, window, accepted entry kinds, "
        "participant and scored-entry counts, and whether you joined. Filters: `status` "
        "(open, upcoming, past), `task_type`, `metric`, `dataset`, `search`.",
    ),
    "competitions_retrieve": (
        "A competition",
        "The competition with its overview, rules (daily and total limits, final picks, the training "
        "budget, the largest sweep or ensemble an entry may train, allowed pre-training datasets), the "
        "public/private split and whether you joined.",
    ),
    "competitions_join_create": (
        "Join a competition",
        "Joining accepts the competition's rules, so the body must say so: "
        '`{"accept_rules": true}`. Without it (an empty body included) the answer is 400 naming '
        "`accept_rules`. Joining again changes nothing. Needed to download the data and to submit.",
    ),
    "competitions_data_retrieve": (
        "A competition's dataset and files",
        "The dataset card, the participant-facing files (name, size, sha256, download URL) and "
        "the manifest. Hidden files (the test labels) are never listed. Public.",
    ),
    "competitions_data_file_download": (
        "Download a data file",
        "One participant-facing file (train.csv, test.csv, sample_submission.csv) as CSV. Needs "
        "joining (403 says so); hidden files answer 404 to everyone.",
    ),
    "datasets_list": (
        "List datasets",
        "The hosted datasets you may see (drafts only to staff), with their task type, row "
        "counts and input shape.",
    ),
    "datasets_create": (
        "Upload a dataset (staff)",
        "Multipart train and test CSVs with the target and id columns, the task type, metric and "
        "split. Every problem is listed (file, row, column); nothing is stored on any of them. An "
        "existing slug gets a new version. `warnings` lists test rows also found in served files.",
    ),
    "datasets_retrieve": (
        "A dataset",
        "The dataset card: description, files, manifest and its versions.",
    ),
    "datasets_manifest_retrieve": (
        "A dataset's manifest",
        "The manifest of the dataset's current version (columns, classes, input shape, files with "
        "their sha256), hidden files marked and never downloadable.",
    ),
    # --- entries --------------------------------------------------------------------------
    "competitions_submissions_list": (
        "Your entries in a competition",
        "Your entries (your team's, in a team; admins: all), newest first, paginated; filter by "
        "`status` (repeatable) and `kind`. Each says whether it is a final pick "
        "(`is_final_pick`) and, when a score is null although the entry is scored, why "
        "(`scores_withheld`: the Ladder, or the private split before the reveal).",
    ),
    "competitions_submissions_create": (
        "Submit an entry",
        "A predictions CSV (`file`) or a model config (`config`: YAML or JSON text, a file, or a "
        "JSON object), and an optional `description`. 201 with the entry and the limits left; 400 "
        "listing every problem (rows, columns, config paths) with nothing stored; 403 when not "
        "joined or outside the window; 413 past the size cap; 429 past a limit.",
    ),
    "competitions_submissions_limits_retrieve": (
        "Your entries left",
        "How many entries you (or your team) have left today and in total, and when the daily "
        "count resets (UTC midnight).",
    ),
    "submissions_retrieve": (
        "An entry",
        "An entry's status, attempt, times, scores (as you may see them), the reason when it "
        "failed, its config and its epochs (losses, validation metric, learning rate, gradient "
        "norms; a sweep's or an ensemble's say their `variant`), its training report (which model of "
        "a sweep was kept); while a model entry is queued, where it stands in the fair queue "
        "(`queue`: waiting its turn with about `ahead` entries before it, or sent to the workers). "
        "404 for anyone but its owner, the team and admins.",
    ),
    "submissions_cancel_create": (
        "Cancel an entry",
        "Stops an entry that is not final yet (a training worker stops at its next heartbeat). "
        "Cancelling a cancelled entry changes nothing; a scored or failed one answers 409.",
    ),
    "submissions_predictions_retrieve": (
        "Download an entry's predictions",
        "The predictions CSV the entry was scored on (uploaded, or written by the training "
        "worker). 404 until there is one.",
    ),
    "submissions_final_pick_create": (
        "Choose or unchoose a final pick",
        "Toggles the entry as one of the final picks that count on the private board (up to the "
        "competition's `max_final_picks`; when none is chosen, the best public ones count). Only "
        "scored entries, only before the deadline.",
    ),
    # --- boards ---------------------------------------------------------------------------
    "competitions_leaderboard_retrieve": (
        "The leaderboard",
        "A page of the public board (or, after the reveal, the private one: `board=private`) with "
        "your own row beside it, the metric, the Ladder's settings and the interval of each "
        "public score. `?format=csv` answers the whole board as CSV.",
    ),
    "competitions_leaderboard.csv_retrieve": (
        "The leaderboard as CSV",
        "The whole public (or revealed private) board as CSV, one row per entrant: what "
        "`podium leaderboard --download` writes.",
    ),
    "competitions_leaderboard_reveal_create": (
        "Reveal the private board (admin)",
        "Publishes the private board. Before the deadline it closes the competition first, which "
        "must be asked for explicitly (`close_now`); 409 otherwise.",
    ),
    "competitions_leaderboard_rows_history_retrieve": (
        "A board row's entries",
        "Every entry behind one row of the board, with which are final picks and which counts, "
        "for the row's owner (or its team) and admins only.",
    ),
    # --- teams ----------------------------------------------------------------------------
    "competitions_teams_retrieve": (
        "List teams",
        "The competition's teams and their sizes; never their join codes.",
    ),
    "competitions_teams_create": (
        "Create a team",
        "A new team with you in it; your entries so far move to it. The answer has the join code "
        "to give to the people you want in the team.",
    ),
    "competitions_teams_mine_retrieve": (
        "Your team",
        "Your team in this competition, its members and its join code; 404 when you have none.",
    ),
    "competitions_teams_join_create": (
        "Join a team",
        "Joins the team with this code; when you are in a team already, your team merges into it "
        "(refused when the merged team would have more entries than the limits allow).",
    ),
    "competitions_teams_leave_create": (
        "Leave your team",
        "Only before the team's first entry; the last member leaving dissolves the team.",
    ),
    # --- the worker protocol (the workers' schema) ----------------------------------------
    # (operationIds there drop the common prefix /api/worker/: drf-spectacular names them per schema)
    "submissions_claim_create": (
        "Claim an attempt",
        "The training order for this attempt: the config, the dataset files (no hidden ones), "
        "the metric, the budget and the callbacks. 409 when the attempt is no longer current or "
        "the entry was cancelled: drop the task.",
    ),
    "submissions_heartbeat_create": (
        "Send a heartbeat",
        "Keeps the attempt alive against the reaper. `continue: false` (409) when the entry was "
        "cancelled or superseded: stop training.",
    ),
    "submissions_epochs_create": (
        "Report epochs",
        "One epoch's record (`epoch`, `data`: losses, validation metric, learning rate, seconds, "
        "gradient norms, and `variant` for a sweep's or an ensemble's model), or several at once "
        "(`records`: up to 500 of them, the epochs that ended while the last post was on its way); "
        "idempotent per attempt, variant and epoch; NaN travels as null; counts as a heartbeat.",
    ),
    "submissions_predictions_create": (
        "Post the predictions",
        "The test predictions CSV (and optionally the weights as safetensors). The entry moves to "
        "scoring; a repeat is a no-op. Invalid predictions fail the entry with the problems.",
    ),
    "submissions_fail_create": (
        "Fail an attempt",
        "A readable reason the entry shows its owner (never a traceback).",
    ),
    "submissions_files_retrieve": (
        "Download a dataset file (worker)",
        "A participant-facing file of a dataset this attempt may use (its competition's, or an "
        "allowed pre-training dataset's). Hidden files answer 404.",
    ),
    "lab_runs_claim_create": (
        "Claim a lab run's attempt",
        "An entry's training order (config, dataset files without hidden ones, metric, budget, "
        "callbacks) plus `lab_run_id` and `evaluate`: `{on: holdout, fraction, seed}` (hold out that "
        "seeded part of train.csv, train on the rest, predict it by row number) or `{on: test}`. 409 "
        "when the attempt is stale or the run was cancelled: drop the task.",
    ),
    "lab_runs_heartbeat_create": (
        "Send a lab run's heartbeat",
        "Keeps the lab run's attempt alive against the reaper; `continue: false` (409) when its "
        "ablation was cancelled or the attempt superseded: stop training.",
    ),
    "lab_runs_epochs_create": (
        "Report a lab run's epochs",
        "The entry's epoch records (one, or up to 500 as `records`), stored on the run for its curves "
        "(losses, metric, per-layer gradient norms); idempotent per attempt and epoch; a heartbeat.",
    ),
    "lab_runs_predictions_create": (
        "Post a lab run's predictions",
        "The predictions of the run's evaluation rows (held-out rows by row number, or the test ids). "
        "The platform scores them with their interval and pairs them with the ablation's baseline; a "
        "repeat is a no-op; invalid ones fail the run with the problems.",
    ),
    "lab_runs_fail_create": (
        "Fail a lab run's attempt",
        "A readable reason shown in the ablation's table (never a traceback), with the run's report.",
    ),
    "lab_runs_files_retrieve": (
        "Download a dataset file (lab run)",
        "A participant-facing file of the lab run's dataset or of a pre-training dataset it may use. "
        "Hidden files answer 404.",
    ),
    # --- organizers: competitions from scripts, hosts, phases, operations ------------------
    "competitions_create": (
        "Create a competition",
        "Site staff create a competition on a dataset, with the admin's validation: its metric (and "
        "other metrics) must fit the dataset, its window must be a window; its answer key and its "
        "first phase are made with it. 400 lists every problem and stores nothing.",
    ),
    "competitions_update": (
        "Change a competition's settings",
        "Hosts of this competition and staff change its presentation, window, limits, budget or "
        "join policy. What scores depend on (dataset, metrics, split seed, public fraction, slug) "
        "is refused by name. Audited.",
    ),
    "competitions_close": (
        "Close a competition now",
        "Hosts and staff stop the competition's entries now: its deadline becomes now, and the "
        "private board is revealed as at any deadline. Audited, with the reason given.",
    ),
    "competitions_answer_key_create": (
        "Correct the answer key",
        "Hosts upload corrected test labels (every test id once); the ids and the public/private "
        "partition stay fixed, the dataset's files are not touched. Every problem is listed and "
        "nothing is stored on refusal; with `rescore` the entries are scored again. `phase` names "
        "a phase scored on its own split (a development phase): its key is corrected, not the "
        "competition's.",
    ),
    "competitions_audit_list": (
        "The competition's audit log",
        "Every host and staff action on this competition (settings, hosts, closes, corrections, "
        "rescores, disqualifications, join decisions), newest first, with who, when and why.",
    ),
    "competitions_dashboard_retrieve": (
        "The hosts' dashboard numbers",
        "Entries per day (30 days), entries per status, the public score histogram, participants "
        "and the last failures with their reasons; public scores only, as on the page.",
    ),
    "competitions_participants_list": (
        "The competition's participants",
        "Who joined, when, and whether they are disqualified: for its hosts and staff.",
    ),
    "competitions_hosts_list": (
        "The competition's hosts",
        "Who manages this competition without being site staff (hosts and staff read it).",
    ),
    "competitions_hosts_create": (
        "Make someone a host",
        "Site staff make a person a host of this one competition (`username`); audited.",
    ),
    "competitions_hosts_destroy": (
        "Remove a host",
        "Site staff remove a person from this competition's hosts; audited.",
    ),
    "competitions_invitations_create": (
        "Invite a person",
        "Hosts invite a person (`username`) to an invite-only competition; they then join as usual.",
    ),
    "competitions_join_requests_list": (
        "Join requests",
        "The requests to join a competition that needs approval, pending first (its hosts).",
    ),
    "competitions_join_requests_create": (
        "Ask to join",
        "Ask the hosts of a competition that needs approval to let you in; asking again while "
        "pending changes nothing, a declined request says so with the hosts' reason.",
    ),
    "competitions_join_requests_decide": (
        "Approve or decline a join request",
        "Hosts approve (the person joins) or decline (with a reason shown to them) a request; audited.",
    ),
    "competitions_disqualifications_list": (
        "Disqualified participants and teams",
        "The participants and teams taken off every board, with the reasons and whether lifted.",
    ),
    "competitions_disqualifications_create": (
        "Disqualify a participant or a team",
        "All their entries leave every board and new entries are refused with the reason, which "
        "they see; reversible (lift), audited.",
    ),
    "competitions_disqualifications_lift_create": (
        "Lift a disqualification",
        "The participant or team may enter again and their entries rank again (entries "
        "disqualified one by one stay so); audited.",
    ),
    "competitions_entries_disqualify_create": (
        "Disqualify one entry",
        "The entry keeps its scores but never ranks and cannot be a final pick; its authors see "
        "the reason. Reversible (reinstate), audited.",
    ),
    "competitions_entries_reinstate_create": (
        "Reinstate an entry",
        "Undo one entry's disqualification: it ranks again on its boards; audited.",
    ),
    "competitions_entries_rerun_create": (
        "Re-run a model entry",
        "Train a model entry again with a new attempt; its old scores leave the boards until it "
        "is scored again. 202 with the entry; audited.",
    ),
    "competitions_rescore_list": (
        "Rescore jobs",
        "The competition's rescore jobs with their progress (done of total, failed), newest first.",
    ),
    "competitions_rescore_create": (
        "Rescore every entry",
        "Score every scored entry again in the background (after an answer-key correction or a "
        "metric change): the key is read once, the boards rebuilt once at the end. 202 with the job.",
    ),
    "competitions_rescores_retrieve": (
        "One rescore job",
        "A rescore job's state and progress: queued, running or done; entries done, failed, total.",
    ),
    "competitions_phases_list": (
        "The competition's phases",
        "Each phase with its window, limits, accepted kinds, budget, late-entry setting and status "
        "(upcoming, open, late, closed); which one is current.",
    ),
    "competitions_phases_create": (
        "Add a phase",
        "Staff add a phase after the last one, optionally with its own dataset and test split; the "
        "windows are checked together (no overlap, inside the competition). 400 lists every problem.",
    ),
    "competitions_phases_retrieve": (
        "One phase",
        "A phase's settings as they apply (its own, else the competition's); 404 names the phases "
        "for an unknown one.",
    ),
    "competitions_phases_partial_update": (
        "Change a phase",
        "Staff change a phase's window, limits, budget, kinds or late entries; its test split is "
        "fixed once it exists.",
    ),
    "competitions_phases_close_create": (
        "Close a phase now",
        "Staff end an open phase now (a rolling benchmark included); late entries follow its setting. "
        "409 when it is not open.",
    ),
    "competitions_teams_requests_retrieve": (
        "Requests to join your team",
        "The pending requests to join the caller's team in this competition (its members see them).",
    ),
    "competitions_teams_requests_accept_create": (
        "Accept a request to join your team",
        "A member lets the person in; the rules' team size is enforced (400 `team_full`).",
    ),
    "competitions_teams_requests_decline_create": (
        "Decline a request to join your team",
        "A member turns the request down; it is removed.",
    ),
    "competitions_bundle_export": (
        "Export a competition bundle",
        "Hosts of this competition and staff download one zip: `competition.yaml` (the competition, "
        "its phases, metrics, limits, budgets, windows and rules) and each dataset version's files "
        "with their manifest and the hidden answer keys, each with its sha256. It holds hidden "
        "labels: keep it private.",
    ),
    "competitions_import": (
        "Import a competition bundle",
        "Site staff import a bundle exported by another server (`?slug=` imports it under another "
        "slug): identical dataset versions are reused, answer keys stored exactly. A bad bundle gets "
        "every problem listed and nothing is stored.",
    ),
    # --- the lab: ablations ------------------------------------------------------------------
    "submissions_ablations_options_retrieve": (
        "What an ablation of your entry may change",
        "For your own scored model entry: every variant that changes one technique of its config "
        "(key, technique, what changes), and your daily lab quota in this competition (model-epochs "
        "allowed, used, left, what each run costs, when it resets). Another's entry answers 404.",
    ),
    "submissions_ablations_list": (
        "Your ablations of an entry",
        "Your ablations of that entry, newest first, each with its status and table rows (score, "
        "interval, difference from the baseline). Staff see everyone's; others get an empty list.",
    ),
    "submissions_ablations_create": (
        "Start an ablation of your entry",
        'Body `{"variants": [keys]}`: trains your entry\'s config again (the baseline) and each chosen '
        "variant on the platform's workers, on a seeded held-out fifth of the training file, never "
        "the test set. 400 names an unknown or repeated key, 403 when ablations are off, 429 past the "
        "daily quota; nothing is stored on a refusal. The runs never count as entries nor reach a board.",
    ),
    "ablations_retrieve": (
        "An ablation's table and curves",
        "Rows per run (baseline first): what changed, the held-out score with its 95% bootstrap "
        "interval, the paired difference from the baseline with its interval and whether it is beyond "
        "noise, parameters, training seconds, status; and each run's loss, metric and per-layer "
        "gradient-norm curves. Its owner (and staff) only; others get 404.",
    ),
    "ablations_cancel_create": (
        "Cancel an ablation",
        "Stops its runs: queued ones never train, running ones stop at their next heartbeat. Its owner "
        "only; cancelling again changes nothing. The quota it used is not given back.",
    ),
    # --- datasets and metrics ----------------------------------------------------------------
    "image_datasets_create": (
        "Upload an image dataset",
        "Staff upload a zip of PNG/JPEG files named by id with `id,label` CSVs; the images are "
        "decoded once into uint8 arrays. Every bad file is named and nothing is stored.",
    ),
    "metrics_list": (
        "The metric library",
        "Every metric a competition can rank on or show as a column (built in and plugins): its "
        "direction, task type, entry formats and description.",
    ),
}


def _is_worker_path(path: str) -> bool:
    return path.startswith(WORKER_PREFIX)


def exclude_worker_endpoints(endpoints):
    """PREPROCESSING_HOOKS of the participants' schema: the worker callbacks are not theirs."""
    return [e for e in endpoints if not _is_worker_path(e[0])]


def only_worker_endpoints(endpoints):
    """PREPROCESSING_HOOKS of the workers' schema: the callbacks alone."""
    return [e for e in endpoints if _is_worker_path(e[0])]


def document_operations(result, generator, request, public):
    """POSTPROCESSING_HOOKS: each operation's summary and description from OPERATIONS,
    unless its view declared a summary of its own."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            text = OPERATIONS.get(operation.get("operationId"))
            if text is not None and not operation.get("summary"):
                operation["summary"], operation["description"] = text
    return result
