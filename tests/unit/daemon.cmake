# unit tests of daemon/ (zt_unit_test(name source libs...))
