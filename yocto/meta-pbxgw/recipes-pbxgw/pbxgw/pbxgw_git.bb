SUMMARY = "PBX event gateway: CTIP/AMI/ARI to MQTT and PostgreSQL, with SMS"
DESCRIPTION = "pbxgw terminates Slican CTIP and Asterisk AMI/ARI on the PBX's LAN, keeps every \
               call event in SQLite until central has acknowledged it, forwards to MQTT and \
               PostgreSQL, and sends SMS through the box's GSM modem."
# nooelint: oelint.vars.homepageping - no public home page yet, and CI has no network for it
HOMEPAGE = "https://example.invalid/pbxgw"
BUGTRACKER = "https://example.invalid/pbxgw/issues"
SECTION = "net"
LICENSE = "MIT | Apache-2.0"
LIC_FILES_CHKSUM = "file://gateway/LICENSE-MIT;md5=b4fce189760564e101e749d10498ce20 \
                    file://gateway/LICENSE-APACHE;md5=22a53954e4e0ec258dfce4391e905dac"

PV = "0.1.0+git"
SRC_URI = "git://example.invalid/pbxgw.git;protocol=https;branch=main"
# Pin the release to build (bitbake -c update_crates pbxgw after moving it, or .ci/crates-inc).
SRCREV = "0000000000000000000000000000000000000000"
# scarthgap's git fetcher unpacks into ${WORKDIR}/git (the only release the layer claims).
S = "${WORKDIR}/git"

CVE_PRODUCT = "pbxgw"

require ${BPN}-crates.inc

inherit cargo cargo-update-recipe-crates systemd useradd

# Cargo.lock needs rustc 1.89 or newer; scarthgap's own rust is 1.75. Say so at parse time
# instead of failing in do_compile (meta-pbxgw/README.md: where a newer toolchain comes from).
# nooelint: oelint.task.noanonpython - a version check at parse time is what it is for
python __anonymous() {
    version = d.getVar("RUSTVERSION") or "0"
    if bb.utils.vercmp_string_op(version, "1.89", "<"):
        raise bb.parse.SkipRecipe("pbxgw needs rust 1.89 or newer, this build has %s: see meta-pbxgw/README.md" % version)
}

# The gateway member only, without the demo's simulators.
CARGO_BUILD_FLAGS:append = " -p pbxgw --no-default-features"

SYSTEMD_SERVICE:${PN} = "pbxgw.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system --force dialout"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/pbxgw --no-create-home \
                       --shell /sbin/nologin --user-group --groups dialout pbxgw"

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/gateway/systemd/pbxgw.service ${D}${systemd_system_unitdir}/pbxgw.service
    install -d -m 0750 -g pbxgw ${D}${sysconfdir}/pbxgw
    install -m 0640 -g pbxgw ${S}/gateway/pbxgw.example.toml ${D}${sysconfdir}/pbxgw/pbxgw.toml
    # The unit's LoadCredential= directory: root-only secrets handed to the service alone.
    install -d -m 0700 ${D}${sysconfdir}/credstore/pbxgw
    install -d ${D}${nonarch_base_libdir}/udev/rules.d
    install -m 0644 ${S}/board/udev/60-pbxgw.rules ${D}${nonarch_base_libdir}/udev/rules.d/60-pbxgw.rules
    install -d ${D}${mandir}/man1
    install -m 0644 ${S}/gateway/man/pbxgw.1 ${D}${mandir}/man1/pbxgw.1
}

CONFFILES:${PN} = "${sysconfdir}/pbxgw/pbxgw.toml"
FILES:${PN} += "${systemd_system_unitdir}/pbxgw.service \
                ${sysconfdir}/credstore/pbxgw \
                ${nonarch_base_libdir}/udev/rules.d/60-pbxgw.rules"
# TLS to the broker, the database and the CRM needs the CA bundle; local times for SMS and
# reports need the zone files.
RDEPENDS:${PN} += "ca-certificates tzdata"
