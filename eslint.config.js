export { default } from '@distsync/eslint-config';
