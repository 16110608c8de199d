# nbdkit-dmmeta-plugin (plugin/), included by GNUmakefile (`-include plugin/plugin.mk`, after
# the library's rules).  Built when pkg-config finds nbdkit (nbdkit-plugin-dev), skipped with
# one line otherwise.  The plugin links libmeta.a (position-independent objects), so it needs
# no libmeta.so at run time; only plugin_init is exported.  `make install` puts it where
# nbdkit looks for plugins: pkg-config --variable=plugindir nbdkit (under DESTDIR).
NBDKIT_FOUND     := $(shell $(PKG_CONFIG) --exists nbdkit 2>/dev/null && echo yes)
NBDKIT_CFLAGS    := $(shell $(PKG_CONFIG) --cflags nbdkit 2>/dev/null)
NBDKIT_PLUGINDIR ?= $(shell $(PKG_CONFIG) --variable=plugindir nbdkit 2>/dev/null)
PLUGIN_SO        := $(BUILDDIR)/plugin/nbdkit-dmmeta-plugin.so

.PHONY: plugin install-plugin uninstall-plugin bench-nbdkit
# nbdcopy through the plugin against nbdkit's file plugin: bench/README, "nbdkit plugin"
bench-nbdkit: all
	@BUILDDIR=$(abspath $(BUILDDIR)) sh bench/nbdkit.sh

ifeq ($(NBDKIT_FOUND),yes)
all: plugin
plugin: $(PLUGIN_SO)

$(BUILDDIR)/plugin/%.o: plugin/%.c
	@mkdir -p $(dir $@)
	$(vecho) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) $(NBDKIT_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c -o $@ $<

$(PLUGIN_SO): $(BUILDDIR)/plugin/nbdkit-dmmeta-plugin.o $(STATIC_LIB)
	$(vecho) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $< $(STATIC_LIB) \
		$(DEP_LIBS) -lpthread

install: install-plugin
install-plugin: $(PLUGIN_SO)
	$(INSTALL) -d $(DESTDIR)$(NBDKIT_PLUGINDIR)
	$(INSTALL_PROGRAM) $(PLUGIN_SO) $(DESTDIR)$(NBDKIT_PLUGINDIR)/
uninstall: uninstall-plugin
uninstall-plugin:
	rm -f $(DESTDIR)$(NBDKIT_PLUGINDIR)/nbdkit-dmmeta-plugin.so
else
all: plugin
plugin:
	@echo "  nbdkit  plugin not built: nbdkit-plugin.h not found (pkg-config nbdkit; Debian: nbdkit-plugin-dev)"
endif
