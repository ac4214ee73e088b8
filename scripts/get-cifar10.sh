#!/usr/bin/env bash
# get-cifar10.sh - download CIFAR-10 (binary version) and check it.
#
#   scripts/get-cifar10.sh [DIR]        (DIR defaults to ./data)
#
# Puts the dataset in DIR/cifar-10-batches-bin, where nnsweep looks by
# default (data.h; otherwise --data DIR or CIFAR10_DIR). Steps:
#   1. the six batch files already there with the right sizes: nothing to do
#      (works offline);
#   2. DIR/cifar-10-binary.tar.gz already there (an earlier or a manual
#      download): checked against the official md5 and used if it matches,
#      deleted and downloaded again if not (an interrupted download);
#   3. otherwise downloaded with curl or wget (with retries) to
#      DIR/cifar-10-binary.tar.gz.part, checked, renamed; an archive whose md5
#      does not match is deleted and the script fails;
#   4. unpacked into a temporary folder in DIR, the six files' sizes checked,
#      then moved into place. The archive is kept (remove it to save 163 MB).
#
# Environment (for tests and mirrors):
#   CIFAR10_URL  the archive's URL (file:///path works with curl and wget)
#   CIFAR10_MD5  its expected md5 (only for tests with a home-made archive)
#
# Exit status: 0 ok, 1 failure, 2 usage error.
set -euo pipefail

readonly OFFICIAL_URL="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
readonly OFFICIAL_MD5="c32a1d4ab5d03f1284b67883e8d87530"
readonly FILE_BYTES=30730000 # 10000 records of 3073 bytes
readonly FILES=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin
    data_batch_5.bin test_batch.bin)
readonly ARCHIVE_NAME="cifar-10-binary.tar.gz"
readonly SUBDIR="cifar-10-batches-bin"

url="${CIFAR10_URL:-$OFFICIAL_URL}"
md5="${CIFAR10_MD5:-$OFFICIAL_MD5}"

say() { printf 'get-cifar10: %s\n' "$*"; }
die() {
    printf 'get-cifar10: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
-*)
    usage >&2
    exit 2
    ;;
esac
if [ "$#" -gt 1 ]; then
    usage >&2
    exit 2
fi
dir="${1:-./data}"

# Size of a file in bytes (GNU or BSD stat).
file_size() { stat -c %s "$1" 2>/dev/null || stat -f %z "$1"; }

# True when all six batch files are in $1 with the right size.
data_complete() {
    local f
    for f in "${FILES[@]}"; do
        [ -f "$1/$f" ] || return 1
        [ "$(file_size "$1/$f")" = "$FILE_BYTES" ] || return 1
    done
}

# Prints the files of $1 that are missing or have the wrong size.
data_problems() {
    local f
    for f in "${FILES[@]}"; do
        if [ ! -f "$1/$f" ]; then
            printf '  %s: missing\n' "$1/$f"
        elif [ "$(file_size "$1/$f")" != "$FILE_BYTES" ]; then
            printf '  %s: %s bytes, expected %s\n' "$1/$f" "$(file_size "$1/$f")" "$FILE_BYTES"
        fi
    done
}

# True when the md5 of file $1 is the expected one.
md5_ok() {
    local got
    got="$(md5sum "$1" | cut -d' ' -f1)" || die "md5sum $1 failed"
    [ "$got" = "$md5" ]
}

done_msg() {
    local abs
    abs="$(cd "$dir/$SUBDIR" && pwd)"
    say "CIFAR-10 is in $abs"
    if [ "$abs" = "$(pwd)/data/$SUBDIR" ]; then
        say "nnsweep finds it there when run from $(pwd); elsewhere use --data $abs or CIFAR10_DIR=$abs"
    else
        say "use it with --data $abs or CIFAR10_DIR=$abs"
    fi
}

# Downloads $url to $1 with curl or wget, with retries.
download() {
    local out="$1"
    rm -f "$out"
    case "$url" in
    file://*)
        # wget cannot read file:// URLs: copy local archives ourselves.
        cp -- "${url#file://}" "$out" || die "cannot copy ${url#file://}"
        return
        ;;
    esac
    if command -v curl >/dev/null 2>&1; then
        curl --fail --location --show-error --progress-bar --retry 5 --retry-delay 3 \
            --connect-timeout 30 --output "$out" "$url" ||
            { rm -f "$out"; die "download of $url failed (curl); check the network or set CIFAR10_URL"; }
    elif command -v wget >/dev/null 2>&1; then
        wget --tries=5 --waitretry=3 --timeout=30 --progress=dot:giga --output-document="$out" "$url" ||
            { rm -f "$out"; die "download of $url failed (wget); check the network or set CIFAR10_URL"; }
    else
        die "neither curl nor wget is installed; download $url into $dir yourself and run this again"
    fi
}

command -v md5sum >/dev/null 2>&1 || die "md5sum is needed (GNU coreutils)"
command -v tar >/dev/null 2>&1 || die "tar is needed"

if data_complete "$dir/$SUBDIR"; then
    say "already present, nothing to do"
    done_msg
    exit 0
fi
if [ -d "$dir/$SUBDIR" ]; then
    say "$dir/$SUBDIR is incomplete, fetching it again:"
    data_problems "$dir/$SUBDIR"
fi

mkdir -p -- "$dir" || die "cannot create $dir"
archive="$dir/$ARCHIVE_NAME"

if [ -f "$archive" ]; then
    say "checking the archive already in $archive"
    if md5_ok "$archive"; then
        say "md5 ok"
    else
        say "$archive: md5 $(md5sum "$archive" | cut -d' ' -f1), expected $md5 (an interrupted download?); deleting it and downloading again"
        rm -f -- "$archive"
    fi
fi
if [ ! -f "$archive" ]; then
    say "downloading $url"
    download "$archive.part"
    if ! md5_ok "$archive.part"; then
        got="$(md5sum "$archive.part" | cut -d' ' -f1)"
        rm -f -- "$archive.part"
        die "$url: md5 $got, expected $md5: refusing the archive (deleted). A damaged download or a changed file on the server; run this again, or fetch the archive by hand into $dir"
    fi
    mv -f -- "$archive.part" "$archive"
    say "md5 ok"
fi

say "unpacking $archive"
tmp="$(mktemp -d "$dir/.unpack.XXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT
tar -xzf "$archive" -C "$tmp" || die "$archive: cannot unpack"
if ! data_complete "$tmp/$SUBDIR"; then
    data_problems "$tmp/$SUBDIR" >&2
    die "$archive does not hold the six CIFAR-10 batch files in $SUBDIR/"
fi
if [ -e "$dir/$SUBDIR" ]; then
    chmod -R u+w -- "$dir/$SUBDIR" 2>/dev/null || true # read-only copies
    rm -rf -- "${dir:?}/$SUBDIR"
fi
mv -- "$tmp/$SUBDIR" "$dir/$SUBDIR"
data_complete "$dir/$SUBDIR" || die "$dir/$SUBDIR: files missing after unpacking"
done_msg
