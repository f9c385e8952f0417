#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one at a time,
# merges the inputs that found new coverage into fuzz/corpus/<target>/, and
# prints per target: executions, coverage, corpus size and crashes.
#
#   cmake --preset fuzz && scripts/fuzz.sh 60            # every target, 60 s each
#   scripts/fuzz.sh 600 config frame_decode               # some targets
#   FUZZ_MINIMISE=1 scripts/fuzz.sh 0                     # only shrink the corpora
#
# Crashing inputs are kept in build/fuzz/artifacts/<target>/ (docs/fuzzing.md
# says how to reproduce and file them). Exit status 1 when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
build=build/fuzz
if [[ ! -f ${build}/CMakeCache.txt ]]; then
  echo "fuzz.sh: configure first: cmake --preset fuzz" >&2
  exit 2
fi
nice -n 10 cmake --build --preset fuzz >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
  for dir in fuzz/corpus/*/; do targets+=("$(basename "${dir}")"); done
fi

# libFuzzer's options: the resource limits every target must hold (issue 16).
limits=(-rss_limit_mb=512 -timeout=5)
crashed=0
summary=()
for target in "${targets[@]}"; do
  binary=${build}/fuzz/fuzz_${target}
  corpus=fuzz/corpus/${target}
  scratch=${build}/corpus-new/${target}
  artifacts=${build}/artifacts/${target}
  log=${build}/logs/${target}.log
  mkdir -p "${scratch}" "${artifacts}" "$(dirname "${log}")"
  : >"${log}"  # also the stamp: crashes are the artifacts newer than it
  if ((seconds > 0)); then
    echo "== ${target}: ${seconds} s" >&2
    status=0
    nice -n 15 "${binary}" "${limits[@]}" -max_total_time="${seconds}" -print_final_stats=1 \
      -artifact_prefix="${artifacts}/" "${scratch}" "${corpus}" >"${log}" 2>&1 || status=$?
    # New coverage joins the repository's corpus (only what adds to it).
    nice -n 15 "${binary}" "${limits[@]}" -merge=1 "${corpus}" "${scratch}" >>"${log}" 2>&1 || true
    rm -rf "${scratch}"
    ((status == 0)) || crashed=1
  fi
  if [[ ${FUZZ_MINIMISE:-0} == 1 ]]; then
    # Inputs libFuzzer named (40 hex digits) that add nothing are dropped;
    # named seeds and crash regressions always stay.
    minimal=${build}/corpus-min/${target}
    rm -rf "${minimal}" && mkdir -p "${minimal}"
    nice -n 15 "${binary}" "${limits[@]}" -merge=1 "${minimal}" "${corpus}" >>"${log}" 2>&1
    for file in "${corpus}"/*; do
      name=$(basename "${file}")
      [[ ${name} =~ ^[0-9a-f]{40}$ ]] || continue
      [[ -e ${minimal}/$(sha1sum "${file}" | cut -c1-40) ]] || rm -f "${file}"
    done
  fi
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "${log}" | tail -1 | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "${log}" | tail -1 || true)
  rss=$(grep -o 'stat::peak_rss_mb: [0-9]*' "${log}" | tail -1 | grep -o '[0-9]*$' || echo -)
  found=$(find "${artifacts}" -type f -newer "${log}" | wc -l)
  summary+=("$(printf '%-16s %12s  %-22s %8s %10s %8s' "${target}" "${execs:-0}" "${cov:-cov: - ft: -}" \
    "${rss}" "$(ls "${corpus}" | wc -l)" "${found}")")
done

printf '%-16s %12s  %-22s %8s %10s %8s\n' target executions coverage rss_mb corpus crashes
printf '%s\n' "${summary[@]}"
if ((crashed)); then
  echo "fuzz.sh: crashes in build/fuzz/artifacts/ (see docs/fuzzing.md)" >&2
  exit 1
fi
