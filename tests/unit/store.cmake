# unit tests of store/ (zt_unit_test(name source libs...))
