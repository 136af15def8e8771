#!/bin/bash
# Issue 25 before/after: run each finding's tests in its own pytest process.
# usage: BEFORE_TREE=… AFTER_TREE=… run.sh before|after [group ...]
# BEFORE_TREE: a worktree at 94525b2 (no fix) with adapted-tests/ copied into its tests/; AFTER_TREE: one at main.
set -u
mode=$1; shift; only=" $* "
L=$(cd "$(dirname "$0")" && pwd)  # the logs go beside this script
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
if [ "$mode" = before ]; then cd "$BEFORE_TREE"; else cd "$AFTER_TREE"; fi
HC=tests/test_hostile_corpus.py           # as written (main's file)
HCB=tests/test_hostile_corpus_before.py   # adapted, one finding a test
HL=tests/test_hostile_clients.py          # as written
HLB=tests/test_hostile_clients_before.py  # the as-written tests (imports adapted) + *_adapted tests
RC=tests/test_reliability_corpus.py       # main's file
# On the old code the as-written modules cannot be imported (rag.page_meta, rag.api.gradio_gate are new):
# the unchanged test functions run from the adapted copy of the clients module instead.
if [ "$mode" = before ]; then W=$HLB; else W=$HL; fi
run() {  # run <log name> <pytest args...>
  [ "$only" != "  " ] && [[ "$only" != *" $1 "* ]] && return
  local log=$L/$1.$mode.log; shift
  { echo "# $(date -u +%FT%TZ) $mode: $(git rev-parse --short HEAD) $(git log -1 --format=%s | cut -c1-80)"
    echo "# cwd $(pwd)"; echo "# .venv/bin/python -m pytest $*"; echo
    .venv/bin/python -m pytest "$@" -p no:cacheprovider -rA 2>&1; echo "# exit $?"; } > "$log"
  echo "$log: $(grep -E '^(=+ )?[0-9]+ (passed|failed|error)|^=+ .*(passed|failed|error).* =+$' "$log" | tail -1)"
}
corpus_asis=()
[ "$mode" = after ] && corpus_asis=("$HC::test_each_hostile_file_is_skipped_with_its_reason_in_a_moment")
run finding1-alias-bomb "${corpus_asis[@]}" "$HCB::test_finding1_alias_bomb_is_skipped_in_a_moment" \
    "$HCB::test_finding1_metadata_that_is_no_text_or_too_long_is_skipped"
run finding2-cl-te-and-history \
    "$W::test_content_length_and_transfer_encoding_together_are_refused_before_the_body" \
    "$W::test_an_earlier_turn_is_bounded_as_a_question_is" \
    "$HLB::test_finding2_a_chunked_body_declared_as_5_bytes_is_not_read_past_the_cap_adapted" \
    tests/test_security.py::test_gradio_request_bodies_are_capped tests/test_api.py::test_request_body_is_capped
run finding3-route-words "$W::test_pages_named_like_gradio_routes_are_cited_listed_and_shown" \
    "$HLB::test_finding3_citations_and_details_of_pages_named_like_gradio_routes_adapted"
run finding4-symlink-loop "${corpus_asis[@]}" "$HCB::test_finding4_a_symlink_loop_is_skipped" \
    "$HCB::test_finding4_index_over_a_symlink_loop_builds_and_says_one_line"
run finding5-index-damage "$RC::test_damage_a_build_can_replace_is_rebuilt_and_ask_says_why" \
    "$RC::test_a_manifest_section_of_the_wrong_type_is_refused_as_corrupt" \
    "$RC::test_damage_a_build_cannot_replace_is_one_error_line" \
    tests/test_index_damage_before.py::test_finding5_ask_says_why_it_rebuilds_a_damaged_index_adapted
run finding5-watcher "$RC::test_the_watcher_logs_a_failed_look_and_goes_on"
run finding6-gradio-token "$W::test_with_a_token_gradio_api_needs_it_and_the_chat_page_gets_a_session_cookie" \
    "$HLB::test_finding6_gradio_client_without_the_token_is_refused_adapted"
run finding7-gradio-500s "$W::test_malformed_queue_calls_get_4xx_and_one_log_line" \
    "$W::test_a_question_that_is_no_text_is_told_the_asker_without_a_traceback" \
    "$HLB::test_finding7_each_malformed_queue_call_gets_4xx_and_no_traceback_adapted"
corpus8=()
[ "$mode" = after ] && corpus8=("$HC::test_index_escapes_control_characters_so_each_file_is_one_line" \
    "$HC::test_every_log_message_of_a_server_is_one_line")
run finding8-smaller-points "${corpus8[@]}" \
    "$HCB::test_finding8_a_file_found_missing_is_skipped_as_removed_not_as_not_a_regular_file" \
    "$HCB::test_finding8_a_file_removed_between_its_size_check_and_its_read_does_not_kill_the_build" \
    "$HCB::test_finding8_index_escapes_control_characters_so_each_file_is_one_line" \
    "$W::test_the_chat_keeps_at_most_the_turns_the_api_takes" \
    "$W::test_a_body_sent_too_slowly_is_refused_at_the_deadline" \
    "$W::test_headers_sent_too_slowly_lose_the_connection_at_the_deadline" \
    "$HLB::test_finding8_a_half_sent_body_is_ended_within_seconds_adapted"
if [ "$mode" = after ]; then  # the whole of both new modules, as `make test` runs them (the browser test included)
  run hostile-modules-whole "$HC" "$HL"
else
  run hostile-modules-as-written "$HC" "$HL"   # collection errors on the old code
fi
