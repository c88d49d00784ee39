#!/bin/sh
# The release record in the server's env file (the file deploy/deploy.mk sources).
#
#   release-env.sh check TAG            refuse an empty tag, "latest" and malformed tags
#   release-env.sh record FILE TAG      CTH_IMAGE_TAG=TAG, the tag it replaces -> CTH_PREVIOUS_IMAGE_TAG
#   release-env.sh get FILE VARIABLE    print VARIABLE's value from FILE (empty when unset)
#
# Other lines of FILE are kept as they are; the file is replaced atomically.
set -eu

check() {
    case "$1" in
        "") echo "release-env: TAG is required (e.g. TAG=1.2.3)" >&2; exit 2 ;;
        latest) echo "release-env: refusing to deploy 'latest': name a release tag" >&2; exit 2 ;;
    esac
    if ! printf '%s' "$1" | grep -Eq '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'; then
        echo "release-env: '$1' is not a valid image tag" >&2
        exit 2
    fi
}

get() {
    [ -f "$1" ] || return 0
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

record() {
    file=$1
    tag=$2
    check "$tag"
    touch "$file"
    current=$(get "$file" CTH_IMAGE_TAG)
    previous=$(get "$file" CTH_PREVIOUS_IMAGE_TAG)
    if [ -n "$current" ] && [ "$current" != "$tag" ]; then
        previous=$current
    fi
    umask 077
    tmp="$file.tmp.$$"
    grep -v -e '^CTH_IMAGE_TAG=' -e '^CTH_PREVIOUS_IMAGE_TAG=' "$file" > "$tmp" || true
    printf 'CTH_IMAGE_TAG=%s\nCTH_PREVIOUS_IMAGE_TAG=%s\n' "$tag" "$previous" >> "$tmp"
    mv "$tmp" "$file"
    echo "release-env: $file: CTH_IMAGE_TAG=$tag (previous: ${previous:-none})"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
    check) check "${1:-}" ;;
    record) record "$1" "$2" ;;
    get) get "$1" "$2" ;;
    *) echo "usage: release-env.sh check TAG | record FILE TAG | get FILE VARIABLE" >&2; exit 2 ;;
esac
