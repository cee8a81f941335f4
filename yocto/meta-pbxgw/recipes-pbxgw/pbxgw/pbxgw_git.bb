SUMMARY = "PBX event gateway: CTIP/AMI/ARI to MQTT and PostgreSQL, with SMS"
DESCRIPTION = "pbxgw terminates Slican CTIP and Asterisk AMI/ARI on the PBX's LAN, keeps every \
               call event in SQLite until central has acknowledged it, forwards to MQTT and \
               PostgreSQL, and sends SMS through the box's GSM modem."
# nooelint: oelint.vars.homepageping - no public home page yet, and CI has no network for it
HOMEPAGE = "https://example.invalid/pbxgw"
BUGTRACKER = "https://example.invalid/pbxgw/issues"
SECTION = "net"
LICENSE = "MIT | Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=10;endline=10;md5=86b31c7756a1a7962f28b62856ed4f05"

PV = "0.1.0+git"
SRC_URI = "git://example.invalid/pbxgw.git;protocol=https;branch=main"
# Pin the release to build (bitbake -c update_crates pbxgw after moving it, or .ci/crates-inc).
SRCREV = "0000000000000000000000000000000000000000"

CVE_PRODUCT = "pbxgw"

require ${BPN}-crates.inc

inherit cargo cargo-update-recipe-crates systemd useradd

# The gateway member only, without the demo's simulators.
CARGO_BUILD_FLAGS:append = " -p pbxgw --no-default-features"

SYSTEMD_SERVICE:${PN} = "pbxgw.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system --force gpio; --system --force dialout"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/pbxgw --no-create-home \
                       --shell /sbin/nologin --user-group --groups dialout,gpio pbxgw"

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/gateway/systemd/pbxgw.service ${D}${systemd_system_unitdir}/pbxgw.service
    install -d -m 0750 -g pbxgw ${D}${sysconfdir}/pbxgw
    install -m 0640 -g pbxgw ${S}/gateway/pbxgw.example.toml ${D}${sysconfdir}/pbxgw/pbxgw.toml
}

CONFFILES:${PN} = "${sysconfdir}/pbxgw/pbxgw.toml"
FILES:${PN} += "${systemd_system_unitdir}/pbxgw.service"
