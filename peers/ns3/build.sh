#!/bin/sh
# Builds the ns-3 peer programs against Debian's ns-3 (apt-get install -y libns3-dev ns3; 3.37).
# Not part of CI. Binaries go to peers/ns3/build/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/build"
mods="ns3-core ns3-network ns3-internet ns3-point-to-point ns3-applications ns3-traffic-control"
# Debian's ns3 .pc files carry a broken include flag ("-I/usr\;"); the headers live in
# /usr/include/ns3, found through the default include path, so only the libraries are taken.
# They also name libgsl.so / libsqlite3.so by path; drop any such file that is not installed
# (the -dev package is missing; the programs here use neither).
libs=""
for l in $(pkg-config --libs $mods); do
    case "$l" in
    /*) [ -e "$l" ] && libs="$libs $l" ;;
    *) libs="$libs $l" ;;
    esac
done
for prog in ${PROGS:-dumbbell incast}; do
    g++ -std=c++17 -O2 -o "$here/build/$prog" "$here/$prog.cc" $libs
    echo "built $here/build/$prog"
done
